//! Opening a serial device in raw mode at a given baud rate (termios).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The termios speed constant for `baud`, if the platform has one.
fn speed(baud: u32) -> Option<libc::speed_t> {
    Some(match baud {
        1200 => libc::B1200,
        2400 => libc::B2400,
        4800 => libc::B4800,
        9600 => libc::B9600,
        19_200 => libc::B19200,
        38_400 => libc::B38400,
        57_600 => libc::B57600,
        115_200 => libc::B115200,
        230_400 => libc::B230400,
        460_800 => libc::B460800,
        500_000 => libc::B500000,
        576_000 => libc::B576000,
        921_600 => libc::B921600,
        1_000_000 => libc::B1000000,
        1_500_000 => libc::B1500000,
        2_000_000 => libc::B2000000,
        3_000_000 => libc::B3000000,
        4_000_000 => libc::B4000000,
        _ => return None,
    })
}

/// Opens `dev` for reading frames: raw 8N1, no flow control, at `baud`.
pub fn open(dev: &Path, baud: u32) -> Result<File> {
    let Some(speed) = speed(baud) else {
        bail!("unsupported baud rate {baud}; use a standard rate such as 115200 or 921600");
    };
    if !dev.exists() {
        bail!(
            "serial device {} does not exist; check that the board is connected and the path \
             (e.g. ls /dev/ttyACM* /dev/ttyUSB*)",
            dev.display()
        );
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(dev)
        .with_context(|| {
            format!(
                "cannot open serial device {} (is it in use, or do you need to be in the dialout group?)",
                dev.display()
            )
        })?;
    let fd = file.as_raw_fd();
    // SAFETY: termios is plain old data; all-zero is a valid value to fill in.
    let mut tio: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open descriptor and `tio` a valid termios to write into.
    if unsafe { libc::tcgetattr(fd, &mut tio) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("{} is not a serial device", dev.display()));
    }
    // SAFETY: `tio` is a valid termios; these calls only modify it.
    unsafe {
        libc::cfmakeraw(&mut tio);
        libc::cfsetispeed(&mut tio, speed);
        libc::cfsetospeed(&mut tio, speed);
    }
    tio.c_cflag |= libc::CLOCAL | libc::CREAD;
    tio.c_cflag &= !(libc::CRTSCTS | libc::CSTOPB | libc::PARENB);
    tio.c_iflag &= !(libc::IXON | libc::IXOFF | libc::IXANY);
    tio.c_cc[libc::VMIN] = 1;
    tio.c_cc[libc::VTIME] = 0;
    // SAFETY: `fd` is open and `tio` a fully initialised termios.
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &tio) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| {
            format!(
                "cannot configure serial device {} at {baud} baud",
                dev.display()
            )
        });
    }
    Ok(file)
}
