//go:build boringcrypto

package tlsbench

import "crypto/boring"

// boringEnabled reports whether BoringSSL's crypto module does the
// primitives in this binary (GOEXPERIMENT=boringcrypto with cgo on).
func boringEnabled() bool { return boring.Enabled() }
