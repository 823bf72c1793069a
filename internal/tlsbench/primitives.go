package tlsbench

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// measurePrimitives times the operations a TLS server does per record and
// per handshake, in this process: with GOEXPERIMENT=boringcrypto the AES-GCM,
// P-256 and signature calls go to BoringSSL's module, the rest stay Go.
// ChaCha20-Poly1305 comes from x/crypto, the same code crypto/tls vendors.
func measurePrimitives(ctx context.Context, d time.Duration, need primNeeds) ([]primRow, error) {
	var rows []primRow
	aeads := []struct {
		name string
		new  func() (cipher.AEAD, error)
	}{
		{AEADAES128GCM, func() (cipher.AEAD, error) { return newGCM(16) }},
		{AEADAES256GCM, func() (cipher.AEAD, error) { return newGCM(32) }},
		{AEADChaCha, func() (cipher.AEAD, error) { return chacha20poly1305.New(make([]byte, chacha20poly1305.KeySize)) }},
	}
	for _, a := range aeads {
		if !slices.Contains(need.aeads, a.name) {
			continue
		}
		aead, err := a.new()
		if err != nil {
			return rows, fmt.Errorf("%s: %w", a.name, err)
		}
		for _, size := range need.sizes {
			v := sealRate(ctx, aead, size, d)
			rows = append(rows, primRow{Alg: a.name, Metric: fmt.Sprintf("seal_%d", size), Value: v, Unit: "MB/s"})
		}
	}
	for _, c := range []struct {
		name  string
		curve ecdh.Curve
	}{{"X25519", ecdh.X25519()}, {"P-256", ecdh.P256()}} {
		if !slices.Contains(need.curves, c.name) {
			continue
		}
		v, err := ecdheRate(ctx, c.curve, d)
		if err != nil {
			return rows, fmt.Errorf("ecdhe %s: %w", c.name, err)
		}
		rows = append(rows, primRow{Alg: c.name, Metric: MetricECDHE, Value: v, Unit: "ops/s"})
	}
	digest := sha256.Sum256([]byte("tlsbench"))
	for _, s := range []struct {
		name string
		key  func() (crypto.Signer, error)
	}{
		{CertECDSA, func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{CertRSA, func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
	} {
		if !slices.Contains(need.certs, s.name) {
			continue
		}
		key, err := s.key()
		if err != nil {
			return rows, err
		}
		opts := crypto.SignerOpts(crypto.SHA256)
		v, err := opsRate(ctx, d, func() error { _, err := key.Sign(rand.Reader, digest[:], opts); return err })
		if err != nil {
			return rows, fmt.Errorf("sign %s: %w", s.name, err)
		}
		rows = append(rows, primRow{Alg: s.name, Metric: MetricSign, Value: v, Unit: "ops/s"})
	}
	return rows, nil
}

func newGCM(keyLen int) (cipher.AEAD, error) {
	b, err := aes.NewCipher(make([]byte, keyLen))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// sealRate returns MB/s (10^6 bytes) of Seal with a TLS-sized additional
// data block, reusing one output buffer as a record layer does.
func sealRate(ctx context.Context, aead cipher.AEAD, size int, d time.Duration) float64 {
	plain := make([]byte, size)
	out := make([]byte, 0, size+aead.Overhead())
	nonce := make([]byte, aead.NonceSize())
	ad := make([]byte, 13)
	var n int64
	start := time.Now()
	for {
		for range 64 {
			out = aead.Seal(out[:0], nonce, plain, ad)
		}
		n += 64
		if el := time.Since(start); el >= d || ctx.Err() != nil {
			return float64(n) * float64(size) / el.Seconds() / 1e6
		}
	}
}

// ecdheRate counts what a server does per ECDHE handshake: generate a key
// pair and derive the shared secret with the peer's public key.
func ecdheRate(ctx context.Context, c ecdh.Curve, d time.Duration) (float64, error) {
	peer, err := c.GenerateKey(rand.Reader)
	if err != nil {
		return 0, err
	}
	pub := peer.PublicKey()
	return opsRate(ctx, d, func() error {
		k, err := c.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		_, err = k.ECDH(pub)
		return err
	})
}

func opsRate(ctx context.Context, d time.Duration, op func() error) (float64, error) {
	var n int64
	start := time.Now()
	for {
		if err := op(); err != nil {
			return 0, err
		}
		n++
		if el := time.Since(start); el >= d || ctx.Err() != nil {
			return float64(n) / el.Seconds(), nil
		}
	}
}
