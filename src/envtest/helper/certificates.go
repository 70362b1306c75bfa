package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certificateSpec is one leaf certificate to issue from the generated CA.
type certificateSpec struct {
	// Name is the file stem: the helper writes NAME.crt and NAME.key.
	Name          string   `json:"name"`
	CommonName    string   `json:"commonName"`
	Organizations []string `json:"organizations"`
	DNSNames      []string `json:"dnsNames"`
	IPAddresses   []string `json:"ipAddresses"`
	// Usages contains "server", "client" or both.
	Usages []string `json:"usages"`
}

// certificatesSpec is the JSON document read from standard input.
type certificatesSpec struct {
	CACommonName string            `json:"caCommonName"`
	ValidHours   int               `json:"validHours"`
	Certificates []certificateSpec `json:"certificates"`
	// ServiceAccountKeyName is the file stem of the token signing key pair (NAME.key, NAME.pub),
	// or empty for none.
	ServiceAccountKeyName string `json:"serviceAccountKeyName"`
}

// writeCertificates creates a CA (ca.crt, ca.key) and the requested leaf certificates and keys
// in directory. All keys are ECDSA P-256: kube-apiserver, etcd and Node accept them, and they
// are much faster to generate than RSA keys.
func writeCertificates(directory string, input io.Reader) error {
	var spec certificatesSpec
	decoder := json.NewDecoder(input)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&spec); err != nil {
		return fmt.Errorf("invalid certificate spec on standard input: %w", err)
	}
	if spec.ValidHours <= 0 {
		return fmt.Errorf("invalid validHours %d: must be positive", spec.ValidHours)
	}

	// Backdating by an hour tolerates small clock differences between processes.
	notBefore := time.Now().Add(-time.Hour)
	notAfter := notBefore.Add(time.Duration(spec.ValidHours) * time.Hour)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caKeyUsage := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	caTemplate := &x509.Certificate{
		Subject:               pkix.Name{CommonName: spec.CACommonName},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              caKeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, caCert, err := signCertificate(caTemplate, &caKey.PublicKey, nil, caKey)
	if err != nil {
		return fmt.Errorf("failed to create CA certificate: %w", err)
	}
	if err := writeKeyPair(directory, "ca", caDER, caKey); err != nil {
		return err
	}

	for _, leaf := range spec.Certificates {
		if err := writeLeafCertificate(directory, leaf, notBefore, notAfter, caCert, caKey); err != nil {
			return fmt.Errorf("certificate %q: %w", leaf.Name, err)
		}
	}

	if spec.ServiceAccountKeyName != "" {
		if err := writeServiceAccountKey(directory, spec.ServiceAccountKeyName); err != nil {
			return fmt.Errorf("service account key: %w", err)
		}
	}
	return nil
}

func writeLeafCertificate(
	directory string,
	leaf certificateSpec,
	notBefore, notAfter time.Time,
	caCert *x509.Certificate,
	caKey *ecdsa.PrivateKey,
) error {
	if leaf.Name == "" || filepath.Base(leaf.Name) != leaf.Name {
		return fmt.Errorf("invalid name: must be a plain file name")
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	template := &x509.Certificate{
		Subject:               pkix.Name{CommonName: leaf.CommonName, Organization: leaf.Organizations},
		DNSNames:              leaf.DNSNames,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	for _, address := range leaf.IPAddresses {
		ip := net.ParseIP(address)
		if ip == nil {
			return fmt.Errorf("invalid IP address %q", address)
		}
		template.IPAddresses = append(template.IPAddresses, ip)
	}
	for _, usage := range leaf.Usages {
		switch usage {
		case "server":
			template.ExtKeyUsage = append(template.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		case "client":
			template.ExtKeyUsage = append(template.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		default:
			return fmt.Errorf("invalid usage %q: expected server or client", usage)
		}
	}

	der, _, err := signCertificate(template, &key.PublicKey, caCert, caKey)
	if err != nil {
		return err
	}
	return writeKeyPair(directory, leaf.Name, der, key)
}

// signCertificate fills in the serial number and key identifiers, then signs template with
// signerKey. A nil issuer makes the certificate self-signed.
func signCertificate(
	template *x509.Certificate,
	publicKey *ecdsa.PublicKey,
	issuer *x509.Certificate,
	signerKey *ecdsa.PrivateKey,
) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	template.SerialNumber = serial

	publicDER, err := x509.MarshalPKIXPublicKey(publicKey)
	if err != nil {
		return nil, nil, err
	}
	// SHA-1 here only derives an identifier (RFC 5280, section 4.2.1.2), not a signature.
	keyID := sha1.Sum(publicDER)
	template.SubjectKeyId = keyID[:]

	if issuer == nil {
		issuer = template
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, publicKey, signerKey)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return der, parsed, nil
}

func writeKeyPair(directory, name string, certificateDER []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	certificatePEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certificateDER})
	if err := os.WriteFile(filepath.Join(directory, name+".crt"), certificatePEM, 0o644); err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return os.WriteFile(filepath.Join(directory, name+".key"), keyPEM, 0o600)
}

// writeServiceAccountKey writes the key pair kube-apiserver signs service account tokens with
// (NAME.key, PKCS #8) and verifies them with (NAME.pub, PKIX).
func writeServiceAccountKey(directory, name string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	publicDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(directory, name+".key"), keyPEM, 0o600); err != nil {
		return err
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER})
	return os.WriteFile(filepath.Join(directory, name+".pub"), publicPEM, 0o644)
}
