//! Attaches a consumer to arbitrary ring storage (as another process may have
//! left it) and reads it: errors are fine, panics and out-of-bounds reads are
//! not. Every entry must lie inside the storage. Then drains the same storage
//! into frames: whatever the ring held, every frame the drain writes must
//! decode (a drain never sends a frame the decoder would refuse).
#![no_main]

use libfuzzer_sys::fuzz_target;
use runlog_core::{drain, Consumer, Event, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    // Copy into 4-aligned storage the consumer may write its cursors into.
    let mut storage = vec![0u32; data.len().div_ceil(4)];
    // SAFETY: the u32 buffer has at least data.len() bytes.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(storage.as_mut_ptr().cast::<u8>(), data.len())
    };
    bytes.copy_from_slice(data);
    let range = bytes.as_ptr_range();
    let (lo, hi) = (range.start as usize, range.end as usize);
    // SAFETY: `bytes` outlives the consumer; nothing else uses it.
    let pristine = bytes.to_vec();
    let Ok(mut consumer) = (unsafe { Consumer::attach(bytes.as_mut_ptr(), bytes.len()) }) else {
        return;
    };
    for _ in 0..1000 {
        match consumer.read() {
            Ok(Some(entry)) => {
                let at = entry.bytes.as_ptr() as usize;
                assert!(at >= lo && at + entry.bytes.len() <= hi);
                let _ = entry.record();
            }
            Ok(None) | Err(_) => break,
        }
        consumer.commit();
    }

    drop(consumer);

    bytes.copy_from_slice(&pristine);
    // SAFETY: as above.
    let Ok(mut consumer) = (unsafe { Consumer::attach(bytes.as_mut_ptr(), bytes.len()) }) else {
        return;
    };
    let mut scratch = [0u8; 4096];
    let mut stream = Vec::new();
    let _ = drain(&mut consumer, &mut scratch, &mut stream, 1 << 20);
    FrameDecoder::new().feed(&stream, |event| {
        assert!(!matches!(event, Event::FrameLost(_)), "drain wrote a bad frame: {event:?}");
    });
});
