package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// minRSABits refuses RSA keys that are too short to trust in 2026.
const minRSABits = 2048

// publicKey reads the first usable block of a PEM file: a PUBLIC KEY
// (PKIX), an RSA PUBLIC KEY (PKCS #1) or a CERTIFICATE, whose key is used.
// It returns the key with the one algorithm tokens must be signed with.
func publicKey(pemBytes []byte) (key any, alg string, err error) {
	var seen []string
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		key, err := parseBlock(block)
		if err != nil {
			return nil, "", err
		}
		if key != nil {
			return algorithmFor(key)
		}
		seen = append(seen, block.Type)
	}
	if len(seen) == 0 {
		return nil, "", fmt.Errorf("%w: no PEM block found", ErrBadKey)
	}
	return nil, "", fmt.Errorf("%w: want a PUBLIC KEY or CERTIFICATE block, found %s",
		ErrBadKey, strings.Join(seen, ", "))
}

// parseBlock returns the public key a block holds, or nil for a block of
// another kind (a private key, say), which publicKey reports by type.
func parseBlock(block *pem.Block) (any, error) {
	var (
		key any
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s block: %w", ErrBadKey, block.Type, err)
	}
	return key, nil
}

// algorithmFor pins the algorithm to the key: RS256 for RSA, ES256 for
// ECDSA P-256. Any other key is refused rather than guessed at.
func algorithmFor(key any) (any, string, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, "", fmt.Errorf("%w: RSA key of %d bits, at least %d needed",
				ErrBadKey, k.N.BitLen(), minRSABits)
		}
		return k, "RS256", nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, "", fmt.Errorf("%w: ECDSA curve %s, ES256 needs P-256",
				ErrBadKey, k.Curve.Params().Name)
		}
		return k, "ES256", nil
	default:
		return nil, "", fmt.Errorf("%w: a %T key; RSA (RS256) or ECDSA P-256 (ES256) needed",
			ErrBadKey, key)
	}
}
