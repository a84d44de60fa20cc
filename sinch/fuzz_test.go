package sinch_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xcally-connector/connector/internal/fixtures"
	"github.com/xcally-connector/connector/sinch"
)

// addFixtureSeeds adds every JSON file of Sinch's fixtures as a seed.
func addFixtureSeeds(f *testing.F, add func([]byte)) {
	f.Helper()
	dir := fixtures.Dir(f)
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		add(b)
		n++
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	if n == 0 {
		f.Fatalf("no fixtures under %s", dir)
	}
}

// FuzzVerifySignature: a body signed with Sign verifies, the same body with
// a changed byte, nonce or timestamp does not, and arbitrary signature
// headers never panic and only give the documented errors.
func FuzzVerifySignature(f *testing.F) {
	vector := fixtures.Read(f, "signature-vector-body.json")
	f.Add("foo_secret1234", vector, "01FJA8B4A7BM43YGWSG9GBV067", "1634579353", "Yc+3R1pIS78xLASybulhs8BsSo9BPB3Pr92QCUoczfk=")
	addFixtureSeeds(f, func(b []byte) { f.Add("secret", b, "01NONCE", "1700000000", "not base64!") })
	f.Fuzz(func(t *testing.T, secret string, body []byte, nonce, ts, sig string) {
		hdr := sinch.SignatureHeaders{Signature: sig, Nonce: nonce, Timestamp: ts}
		err := sinch.VerifySignature(secret, hdr, body)
		if err == nil && !sameBytes(sig, sinch.Sign(secret, body, nonce, ts)) {
			t.Fatalf("signature %q verified but is not the body's", sig)
		}
		for _, known := range []error{sinch.ErrSignatureNoSecret, sinch.ErrSignatureMissing, sinch.ErrSignatureAlgorithm, sinch.ErrSignatureMismatch} {
			if errors.Is(err, known) {
				err = nil
			}
		}
		if err != nil {
			t.Fatalf("undocumented error %v", err)
		}
		if secret == "" || nonce == "" || ts == "" {
			return
		}
		good := sinch.SignatureHeaders{Signature: sinch.Sign(secret, body, nonce, ts), Nonce: nonce, Timestamp: ts, Algorithm: sinch.SignatureAlgorithm}
		if err := sinch.VerifySignature(secret, good, body); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
		tampered := append(append([]byte(nil), body...), 'x')
		if sinch.VerifySignature(secret, good, tampered) == nil {
			t.Fatal("a changed body verified")
		}
		other := good
		other.Nonce = nonce + "x"
		if sinch.VerifySignature(secret, other, body) == nil {
			t.Fatal("a changed nonce verified")
		}
		other = good
		other.Timestamp = ts + "0"
		if sinch.VerifySignature(secret, other, body) == nil {
			t.Fatal("a changed timestamp verified")
		}
	})
}

// sameBytes reports whether a base64 signature (padded or not, spaces
// around it) decodes to the bytes of the padded base64 want.
func sameBytes(sig, want string) bool {
	sig = strings.TrimSpace(sig)
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		got, err = base64.RawStdEncoding.DecodeString(sig)
	}
	w, _ := base64.StdEncoding.DecodeString(want)
	return err == nil && bytes.Equal(got, w)
}
