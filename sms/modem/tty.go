package modem

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openTTY opens a serial port non-blocking, so that the Go runtime poller
// owns the descriptor and Close unblocks a pending Read (a blocking
// descriptor, as tarm/serial opens, makes Close wait for ever while the
// library's reader sits in read(2)), and sets it raw: 8N1, no flow
// control, no echo, no line discipline.
func openTTY(path string, baud int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	speed, ok := bauds[baud]
	if !ok {
		f.Close()
		return nil, fmt.Errorf("open %s: unsupported baud rate %d", path, baud)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var terr error
	cerr := rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			terr = fmt.Errorf("%s is not a serial port: %w", path, err)
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CRTSCTS | unix.CBAUD
		t.Cflag |= unix.CS8 | unix.CLOCAL | unix.CREAD | speed
		t.Ispeed, t.Ospeed = speed, speed
		t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, t); err != nil {
			terr = fmt.Errorf("set %s raw: %w", path, err)
		}
	})
	if cerr != nil {
		terr = cerr
	}
	if terr != nil {
		f.Close()
		return nil, terr
	}
	return f, nil
}

var bauds = map[int]uint32{
	9600: unix.B9600, 19200: unix.B19200, 38400: unix.B38400, 57600: unix.B57600,
	115200: unix.B115200, 230400: unix.B230400, 460800: unix.B460800, 921600: unix.B921600,
}
