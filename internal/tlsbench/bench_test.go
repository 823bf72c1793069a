package tlsbench

import (
	"crypto"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// The Go engine's primitives as benchmarks, for `go test -bench` beside the
// tlsbench table (same operations as measurePrimitives).
func BenchmarkSeal(b *testing.B) {
	for _, a := range []struct {
		name string
		new  func() (cipher.AEAD, error)
	}{
		{AEADAES128GCM, func() (cipher.AEAD, error) { return newGCM(16) }},
		{AEADAES256GCM, func() (cipher.AEAD, error) { return newGCM(32) }},
		{AEADChaCha, func() (cipher.AEAD, error) { return chacha20poly1305.New(make([]byte, 32)) }},
	} {
		for _, size := range []int{1350, 16384} {
			b.Run(fmt.Sprintf("%s/%d", a.name, size), func(b *testing.B) {
				aead, err := a.new()
				if err != nil {
					b.Fatal(err)
				}
				plain := make([]byte, size)
				out := make([]byte, 0, size+aead.Overhead())
				nonce := make([]byte, aead.NonceSize())
				ad := make([]byte, 13)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					out = aead.Seal(out[:0], nonce, plain, ad)
				}
			})
		}
	}
}

func BenchmarkECDHE(b *testing.B) {
	for _, c := range []struct {
		name  string
		curve ecdh.Curve
	}{{"X25519", ecdh.X25519()}, {"P-256", ecdh.P256()}} {
		b.Run(c.name, func(b *testing.B) {
			peer, err := c.curve.GenerateKey(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				k, err := c.curve.GenerateKey(rand.Reader)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.ECDH(peer.PublicKey()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	digest := sha256.Sum256([]byte("tlsbench"))
	for name, key := range map[string]crypto.Signer{CertECDSA: ek, CertRSA: rk} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandshake is one full crypto/tls handshake, client and server in
// this process over loopback, for MOSN's suite and TLS 1.3.
func BenchmarkHandshake(b *testing.B) {
	certs, err := writeCerts(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_AES_128_GCM_SHA256"} {
		b.Run(name, func(b *testing.B) {
			s, _ := suiteByName(name)
			c, _ := curveByName("X25519")
			scfg, err := serverConfig(certs[s.Cert].Cert, certs[s.Cert].Key, s.Name, c.Name)
			if err != nil {
				b.Fatal(err)
			}
			ccfg, err := clientConfig(certs[s.Cert].Cert, s, c)
			if err != nil {
				b.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						tc := tls.Server(conn, scfg)
						_, _ = io.Copy(io.Discard, tc)
						tc.Close()
					}()
				}
			}()
			b.ReportAllocs()
			for b.Loop() {
				conn, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := checkState(conn.ConnectionState(), s, c); err != nil {
					b.Fatal(err)
				}
				if err := closeAndDrain(conn, 5e9); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
