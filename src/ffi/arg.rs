//! Checking what the caller hands in (NULL, alignment, UTF-8, lengths) and
//! writing what it gets back. All raw-pointer reads and writes of the ABI go
//! through here, so the exports themselves hold almost no `unsafe`.

use std::ptr::NonNull;

use super::result::{Error, PwResult};

/// A borrowed UTF-8 string: a pointer and a length in bytes, no NUL needed.
/// `{NULL, 0}` is the empty string; `{NULL, n > 0}` is a NULL argument.
/// The bytes are only read during the call; the caller keeps ownership.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PwStr {
    /// The first byte, or NULL for the empty string.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl PwStr {
    /// The empty string.
    pub const fn empty() -> PwStr {
        PwStr {
            ptr: std::ptr::null(),
            len: 0,
        }
    }

    /// Borrows `s` (for Rust callers and tests; `s` must outlive the call).
    pub const fn new(s: &str) -> PwStr {
        PwStr::from_bytes(s.as_bytes())
    }

    /// Borrows raw bytes, UTF-8 or not.
    pub const fn from_bytes(b: &[u8]) -> PwStr {
        PwStr {
            ptr: b.as_ptr(),
            len: b.len(),
        }
    }
}

impl Default for PwStr {
    fn default() -> Self {
        PwStr::empty()
    }
}

/// Borrows `len` bytes at `ptr`; NULL is fine for `len == 0`.
///
/// # Safety
/// A non-NULL `ptr` must be valid for reading `len` bytes for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::null(name))
        };
    }
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!(
            "`{name}` length {len} is too large"
        )));
    }
    // SAFETY: non-NULL, length bounded, validity promised by the caller.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a `PwStr` as `&str`.
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn string<'a>(s: PwStr, name: &str) -> Result<&'a str, Error> {
    // SAFETY: forwarded to the caller.
    let b = unsafe { bytes(s.ptr, s.len, name) }?;
    std::str::from_utf8(b).map_err(|e| {
        Error::new(
            PwResult::InvalidUtf8,
            format!(
                "`{name}` is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Checks an input pointer for NULL and alignment.
pub(crate) fn input<T>(ptr: *const T, name: &str) -> Result<NonNull<T>, Error> {
    let p = NonNull::new(ptr.cast_mut()).ok_or_else(|| Error::null(name))?;
    if !ptr.is_aligned() {
        return Err(Error::invalid(format!("`{name}` is not suitably aligned")));
    }
    Ok(p)
}

/// An output pointer checked for NULL and alignment; written only on success.
pub(crate) struct Out<T> {
    ptr: NonNull<T>,
}

/// Checks an output pointer.
pub(crate) fn out<T>(ptr: *mut T, name: &str) -> Result<Out<T>, Error> {
    let p = input(ptr.cast_const(), name)?;
    Ok(Out { ptr: p })
}

impl<T> Out<T> {
    /// Writes `v` without reading or dropping what was there.
    ///
    /// # Safety
    /// The pointer must be valid for writing one `T`.
    pub(crate) unsafe fn write(self, v: T) {
        // SAFETY: non-NULL and aligned (checked), validity promised by the caller.
        unsafe { self.ptr.as_ptr().write(v) }
    }
}

/// A caller's array (`ptr`, `cap` elements) and its length output.
/// `ptr` may be NULL only when `cap` is 0; the length output must not be NULL.
pub(crate) struct OutSlice<'n, T> {
    ptr: *mut T,
    cap: usize,
    len: Out<usize>,
    name: &'n str,
}

/// Checks a caller's array and its length output.
pub(crate) fn out_slice<'n, T>(
    ptr: *mut T,
    cap: usize,
    len: *mut usize,
    name: &'n str,
    len_name: &str,
) -> Result<OutSlice<'n, T>, Error> {
    let len = out(len, len_name)?;
    if ptr.is_null() && cap > 0 {
        return Err(Error::null(name));
    }
    if !ptr.is_aligned() {
        return Err(Error::invalid(format!("`{name}` is not suitably aligned")));
    }
    if cap > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(Error::invalid(format!(
            "`{name}` capacity {cap} is too large"
        )));
    }
    Ok(OutSlice {
        ptr,
        cap,
        len,
        name,
    })
}

impl<T: Copy> OutSlice<'_, T> {
    /// The array's capacity in elements.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Copies `items` into the array and their count into the length output;
    /// if they do not fit, writes only the count needed and returns
    /// `BufferTooSmall`.
    ///
    /// # Safety
    /// The pointers must be valid for writing as checked by [`out_slice`].
    pub(crate) unsafe fn write(self, items: &[T]) -> Result<(), Error> {
        let n = items.len();
        if n > self.cap {
            let e = self.too_small(n);
            // SAFETY: forwarded to the caller.
            unsafe { self.len.write(n) };
            return Err(e);
        }
        if n > 0 {
            // SAFETY: `ptr` is non-NULL (cap >= n > 0), aligned, valid for
            // `cap` elements (caller); Rust data never overlaps caller memory.
            unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), self.ptr, n) };
        }
        // SAFETY: forwarded to the caller.
        unsafe { self.len.write(n) };
        Ok(())
    }

    /// Reports that `needed` elements would not fit, writing `needed` to the
    /// length output.
    ///
    /// # Safety
    /// As for [`OutSlice::write`].
    pub(crate) unsafe fn refuse(self, needed: usize) -> Error {
        let e = self.too_small(needed);
        // SAFETY: forwarded to the caller.
        unsafe { self.len.write(needed) };
        e
    }

    fn too_small(&self, needed: usize) -> Error {
        let unit = if std::mem::size_of::<T>() == 1 {
            "bytes"
        } else {
            "entries"
        };
        Error::new(
            PwResult::BufferTooSmall,
            format!(
                "`{}` holds {} {unit} but {needed} are needed",
                self.name, self.cap
            ),
        )
    }
}
