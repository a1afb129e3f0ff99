//! Writes a split GGUF the way llama.cpp's `gguf-split` does, through the gguf API that
//! llama-cpp-sys-2 links: shard 1 carries every metadata key, each shard carries
//! `split.no`, `split.count` and `split.tensors.count` and a share of the tensors.

use std::ffi::{CStr, CString};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use llama_cpp_sys_2 as sys;

/// Splits `input` into `count` shards named `<prefix>-0000N-of-0000M.gguf` in `out_dir` and
/// returns their paths in shard order.
pub fn split_gguf(input: &Path, out_dir: &Path, prefix: &str, count: u16) -> Vec<PathBuf> {
    let input_c = CString::new(input.to_str().unwrap()).unwrap();
    let mut meta: *mut sys::ggml_context = std::ptr::null_mut();
    let params = sys::gguf_init_params {
        no_alloc: true,
        ctx: &mut meta,
    };
    // SAFETY: the path is a valid C string; with no_alloc the context contains tensor
    // descriptions only, and both are freed below.
    let source = unsafe { sys::gguf_init_from_file(input_c.as_ptr(), params) };
    assert!(!source.is_null(), "cannot read {}", input.display());

    let n_tensors = unsafe { sys::gguf_get_n_tensors(source) };
    let data_offset = unsafe { sys::gguf_get_data_offset(source) } as u64;
    let per_shard = (n_tensors as usize).div_ceil(count as usize);
    let mut input_file = std::fs::File::open(input).unwrap();
    let mut paths = Vec::new();

    for shard in 0..count {
        let first = shard as usize * per_shard;
        let last = ((shard as usize + 1) * per_shard).min(n_tensors as usize);
        let path = out_dir.join(format!("{prefix}-{:05}-of-{count:05}.gguf", shard + 1));
        let path_c = CString::new(path.to_str().unwrap()).unwrap();

        // SAFETY: every pointer comes from the gguf API above and stays valid until freed.
        let out = unsafe { sys::gguf_init_empty() };
        unsafe {
            if shard == 0 {
                sys::gguf_set_kv(out, source);
            }
            sys::gguf_set_val_u16(out, c"split.no".as_ptr(), shard);
            sys::gguf_set_val_u16(out, c"split.count".as_ptr(), count);
            sys::gguf_set_val_i32(out, c"split.tensors.count".as_ptr(), n_tensors as i32);
        }
        let mut pieces = Vec::new();
        for id in first..last {
            let id = id as i64;
            unsafe {
                let name = sys::gguf_get_tensor_name(source, id);
                let tensor = sys::ggml_get_tensor(meta, name);
                assert!(!tensor.is_null(), "{:?}", CStr::from_ptr(name));
                sys::gguf_add_tensor(out, tensor);
                pieces.push((
                    sys::gguf_get_tensor_offset(source, id) as u64,
                    sys::gguf_get_tensor_size(source, id) as u64,
                ));
            }
        }

        let written = unsafe { sys::gguf_write_to_file(out, path_c.as_ptr(), true) };
        assert!(written, "cannot write {}", path.display());
        let alignment = unsafe { sys::gguf_get_alignment(out) } as u64;
        let meta_size = unsafe { sys::gguf_get_meta_size(out) } as u64;
        unsafe { sys::gguf_free(out) };

        let mut output = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        assert_eq!(output.metadata().unwrap().len(), meta_size);
        for (offset, size) in pieces {
            let mut data = vec![0u8; size as usize];
            input_file
                .seek(SeekFrom::Start(data_offset + offset))
                .unwrap();
            input_file.read_exact(&mut data).unwrap();
            output.write_all(&data).unwrap();
            let padding = size.next_multiple_of(alignment) - size;
            output.write_all(&vec![0u8; padding as usize]).unwrap();
        }
        paths.push(path);
    }

    unsafe {
        sys::gguf_free(source);
        sys::ggml_free(meta);
    }
    paths
}
