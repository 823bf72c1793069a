package tlsbench

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certFiles are the PEM files of one self-signed certificate; every engine
// loads the same files so that only the server code differs.
type certFiles struct {
	Cert, Key string
}

// writeCerts generates an ECDSA P-256 and an RSA-2048 self-signed
// certificate for localhost/127.0.0.1 into dir. They live for one run only.
func writeCerts(dir string) (map[string]certFiles, error) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ecdsa key: %w", err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate rsa key: %w", err)
	}
	out := map[string]certFiles{}
	for kind, key := range map[string]crypto.Signer{CertECDSA: ec, CertRSA: rk} {
		f, err := writeCert(dir, kind, key)
		if err != nil {
			return nil, err
		}
		out[kind] = f
	}
	return out, nil
}

func writeCert(dir, kind string, key crypto.Signer) (certFiles, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return certFiles{}, fmt.Errorf("create %s certificate: %w", kind, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return certFiles{}, fmt.Errorf("marshal %s key: %w", kind, err)
	}
	f := certFiles{Cert: filepath.Join(dir, kind+".crt"), Key: filepath.Join(dir, kind+".key")}
	if err := os.WriteFile(f.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return certFiles{}, err
	}
	if err := os.WriteFile(f.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return certFiles{}, err
	}
	return f, nil
}
