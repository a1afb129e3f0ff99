// Tabs are radio buttons that CSS alone switches. This script only keeps the open tab in
// the address (#rag, #function-calling, ...) so a link can open a given tab.
(function () {
  var inputs = document.querySelectorAll("input.tab-input");
  function openFromAddress() {
    var wanted = document.getElementById("tab-" + window.location.hash.slice(1));
    if (wanted && wanted.classList.contains("tab-input")) {
      wanted.checked = true;
    }
  }
  inputs.forEach(function (input) {
    input.addEventListener("change", function () {
      if (input.checked && window.history && window.history.replaceState) {
        window.history.replaceState(null, "", "#" + input.id.slice(4));
      }
    });
  });
  window.addEventListener("hashchange", openFromAddress);
  openFromAddress();
})();
