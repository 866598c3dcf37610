//! The function libraries (`FUNCTION LOAD` of each in the command-form BASE).

use super::bindings;
use std::mem::MaybeUninit;

/// The code of every function library, in upstream's order.
pub fn for_each_function_library(mut f: impl FnMut(&[u8]) -> bool) -> bool {
    // SAFETY: the functions dict holds functionLibInfo values whose code is an sds.
    unsafe {
        let mut it = MaybeUninit::<bindings::dictIterator>::uninit();
        bindings::dictInitIterator(it.as_mut_ptr(), bindings::functionsLibGet());
        let mut ok = true;
        loop {
            let de = bindings::dictNext(it.as_mut_ptr());
            if de.is_null() {
                break;
            }
            let lib = bindings::dictGetVal(de) as *const bindings::functionLibInfo;
            if !f(super::sds::bytes((*lib).code)) {
                ok = false;
                break;
            }
        }
        bindings::dictResetIterator(it.as_mut_ptr());
        ok
    }
}
