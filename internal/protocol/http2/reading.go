package http2

// Reading reports a frame or a header block the peer has begun and not
// completed: bytes it owes now, which a read timeout bounds (unlike the
// quiet between frames, which an idle timeout bounds).
func (c *Conn) Reading() bool { return len(c.in) > 0 || c.hbActive }
