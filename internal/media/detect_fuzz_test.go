package media

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xcally-connector/connector/sinch/emulator"
)

// FuzzDetect checks that Detect never panics, is deterministic and always
// answers a usable Type, and that the WhatsApp verdict on it is coherent.
// Run it with: go test ./internal/media -run '^$' -fuzz FuzzDetect -fuzztime 30s
func FuzzDetect(f *testing.F) {
	for _, name := range emulator.SampleNames() {
		_, data, ok := emulator.Sample(name)
		if !ok {
			f.Fatalf("emulator sample %s missing", name)
		}
		f.Add(data)
	}
	_, dll, _ := emulator.Sample("sample.dll")
	for _, n := range []int{2, 0x3C, 0x3E, 0x40, 0x42, 0x44, 0x44 + 18, 0x44 + 19, len(dll) - 1} {
		f.Add(bytes.Clone(dll[:n]))
	}
	f.Add([]byte("MZ"))
	f.Add(pe(0x100, 0xFFFFFFFF, true))
	f.Add(pe(0x100, 0xFFFFFFF0, true))
	f.Add(pe(0x100, 0xE8, true)) // PE signature fits, COFF does not
	f.Add(pe(SniffLen+0x40, SniffLen-8, true))
	f.Add(oggPage("OpusHead\x01\x01"))
	f.Add([]byte("OggS\x00\x02"))
	f.Add([]byte("OggS\x00\x02" + strings.Repeat("\x00", 20) + "\xff"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		got := Detect(in)
		if !bytes.Equal(in, orig) {
			t.Fatal("Detect modified its input")
		}
		if again := Detect(in); again != got {
			t.Fatalf("not deterministic: %+v then %+v", got, again)
		}
		if got.Format == "" || got.ContentType == "" || got.Ext == "" || got.Label == "" || got.Kind == "" {
			t.Fatalf("empty field in %+v", got)
		}
		if !strings.HasPrefix(got.Ext, ".") {
			t.Fatalf("Ext %q does not begin with a dot", got.Ext)
		}
		if strings.ContainsAny(got.ContentType, "; ") {
			t.Fatalf("ContentType %q has parameters", got.ContentType)
		}
		if len(in) > SniffLen && Detect(in[:SniffLen]) != got {
			t.Fatal("bytes past SniffLen changed the answer")
		}
		v := WhatsAppVerdict(got)
		if v.Allowed != (v.Kind != "") {
			t.Fatalf("verdict %+v: Allowed and Kind disagree", v)
		}
		if !v.Allowed && (v.Reason == "" || v.SinchCode == "") {
			t.Fatalf("refusal %+v without Reason or SinchCode", v)
		}
		if v.Allowed && (v.Reason != "" || v.SinchCode != "") {
			t.Fatalf("allowed verdict %+v with a refusal", v)
		}
		name := SafeFilename("file"+got.Ext, got)
		if name != "file"+got.Ext {
			t.Fatalf("SafeFilename rejects Detect's own extension: %q", name)
		}
	})
}
