package media

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/sinch/emulator"
)

// sampleWant is what Detect must find in each emulator sample.
var sampleWant = map[string]struct{ format, contentType, kind, ext, label string }{
	"sample.jpg":  {"jpg", "image/jpeg", KindImage, ".jpg", "JPG"},
	"sample.jpeg": {"jpg", "image/jpeg", KindImage, ".jpg", "JPG"},
	"sample.png":  {"png", "image/png", KindImage, ".png", "PNG"},
	"sample.gif":  {"gif", "image/gif", KindImage, ".gif", "GIF"},
	"sample.pdf":  {"pdf", "application/pdf", KindDocument, ".pdf", "PDF"},
	"sample.mp3":  {"mp3", "audio/mpeg", KindAudio, ".mp3", "MP3"},
	"sample.mp4":  {"mp4", "video/mp4", KindVideo, ".mp4", "MP4"},
	"sample.csv":  {"csv", "text/csv", KindDocument, ".csv", "CSV"},
	"sample.wav":  {"wav", "audio/wav", KindAudio, ".wav", "WAV"},
	"sample.exe":  {"exe", "application/vnd.microsoft.portable-executable", KindDocument, ".exe", "EXE"},
	"sample.dll":  {"dll", "application/x-msdownload", KindDocument, ".dll", "DLL"},
	"sample.doc":  {"doc", "application/msword", KindDocument, ".doc", "DOC"},
	"sample.docx": {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", KindDocument, ".docx", "DOCX"},
}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	_, data, ok := emulator.Sample(name)
	require.True(t, ok, "emulator sample %s", name)
	return data
}

func TestDetectEmulatorSamples(t *testing.T) {
	names := emulator.SampleNames()
	require.NotEmpty(t, names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want, ok := sampleWant[name]
			require.True(t, ok, "no expectation for emulator sample %s: add it", name)
			got := Detect(sample(t, name))
			assert.Equal(t, want.format, got.Format)
			assert.Equal(t, want.contentType, got.ContentType)
			assert.Equal(t, want.kind, got.Kind)
			assert.Equal(t, want.ext, got.Ext)
			assert.Equal(t, want.label, got.Label)
		})
	}
}

// pe builds an MZ header whose e_lfanew is lfanew, with a PE signature and
// COFF header there (when they fit in size bytes, after the MZ header)
// flagged as a DLL or not.
func pe(size int, lfanew uint32, dll bool) []byte {
	b := make([]byte, size)
	copy(b, "MZ")
	if size >= 0x40 {
		binary.LittleEndian.PutUint32(b[0x3C:], lfanew)
	}
	if lfanew >= 0x40 && uint64(lfanew)+24 <= uint64(size) {
		copy(b[lfanew:], "PE\x00\x00")
		chars := uint16(0x0102)
		if dll {
			chars |= 0x2000
		}
		binary.LittleEndian.PutUint16(b[lfanew+4+18:], chars)
	}
	return b
}

func TestDetectPE(t *testing.T) {
	dll := pe(0x200, 0x80, true)
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"exe", pe(0x200, 0x80, false), "exe"},
		{"dll", dll, "dll"},
		{"dll header ending exactly at the end", pe(0x80+24, 0x80, true), "dll"},
		{"dll truncated before the characteristics", dll[:0x80+23], "exe"},
		{"dll truncated inside the signature", dll[:0x82], "exe"},
		{"MZ only", []byte("MZ"), "exe"},
		{"MZ shorter than e_lfanew", pe(0x3E, 0, false), "exe"},
		{"e_lfanew beyond the head", pe(0x100, 0x1000, true), "exe"},
		{"e_lfanew 0xFFFFFFFF", pe(0x100, 0xFFFFFFFF, true), "exe"},
		{"e_lfanew 0xFFFFFFF0 (wraps in 32 bits)", pe(0x100, 0xFFFFFFF0, true), "exe"},
		{"e_lfanew pointing at the MZ itself", pe(0x100, 0, true), "exe"},
		{"bad signature with the DLL flag", bytes.Replace(dll, []byte("PE\x00\x00"), []byte("PX\x00\x00"), 1), "exe"},
		{"PE header beyond SniffLen", pe(SniffLen+0x100, SniffLen+0x10, true), "exe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Detect(c.in)
			assert.Equal(t, c.want, got.Format)
			assert.Equal(t, "."+c.want, got.Ext)
		})
	}
}

func TestDetectIgnoresNames(t *testing.T) {
	// Detect takes no name: an EXE a customer named photo.jpg is an EXE,
	// and SafeFilename says so.
	exe := sample(t, "sample.exe")
	got := Detect(exe)
	assert.Equal(t, "exe", got.Format)
	assert.Equal(t, "photo.jpg.exe", SafeFilename("photo.jpg", got))
	assert.False(t, WhatsAppVerdict(got).Allowed)
}

func TestDetectTruncatedSamplesNeverPanic(t *testing.T) {
	for _, name := range emulator.SampleNames() {
		data := sample(t, name)
		for n := 0; n <= len(data) && n <= 600; n++ {
			got := Detect(data[:n])
			require.NotEmpty(t, got.Format, "%s[:%d]", name, n)
			require.Equal(t, got, Detect(data[:n]), "%s[:%d] deterministic", name, n)
		}
	}
}

func TestDetectOLE(t *testing.T) {
	ole := sample(t, "sample.doc")
	assert.Equal(t, typeDOC, Detect(ole))
	// Longer OLE files are still DOC, and the 8-byte signature alone is too.
	assert.Equal(t, "doc", Detect(append(ole, make([]byte, 4096)...)).Format)
	assert.Equal(t, "doc", Detect(ole[:8]).Format)
}

// oggPage is the first page of an Ogg stream whose first packet starts
// with packet.
func oggPage(packet string) []byte {
	b := []byte("OggS\x00\x02")
	b = append(b, make([]byte, 8+4+4+4)...) // granule, serial, sequence, CRC
	b = append(b, 1, byte(len(packet)+11))  // one segment
	b = append(b, packet...)
	return append(b, make([]byte, 11)...)
}

// ftyp is an ISO base media file starting with an ftyp box of brand.
func ftyp(brand string) []byte {
	b := []byte{0, 0, 0, 20}
	b = append(b, "ftyp"+brand+"\x00\x00\x00\x00"+brand...)
	return append(b, 0, 0, 0, 8, 'm', 'd', 'a', 't')
}

func TestDetectOtherFormats(t *testing.T) {
	cases := []struct {
		name             string
		in               []byte
		format, ct, kind string
	}{
		{"ogg opus", oggPage("OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), "opus", "audio/ogg", KindAudio},
		{"ogg vorbis", oggPage("\x01vorbis\x00\x00\x00\x00\x01\x44\xac\x00\x00"), "ogg", "audio/ogg", KindAudio},
		{"3gp", ftyp("3gp4"), "3gp", "video/3gpp", KindVideo},
		{"m4a", ftyp("M4A "), "m4a", "audio/mp4", KindAudio},
		{"aac adts", append([]byte{0xFF, 0xF1, 0x50, 0x80}, make([]byte, 60)...), "aac", "audio/aac", KindAudio},
		{"amr", []byte("#!AMR\n\x3c\x00\x00\x00"), "amr", "audio/amr", KindAudio},
		{"webp", append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), make([]byte, 24)...), "webp", "image/webp", KindSticker},
		{"plain text", []byte("hello, how are you?\n"), "txt", "text/plain", KindDocument},
		{"html is served as text", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"), "txt", "text/plain", KindDocument},
		{"svg is served as text", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "txt", "text/plain", KindDocument},
		{"json", []byte(`{"a": [1, 2, 3]}`), "txt", "text/plain", KindDocument},
		{"zip", zipOf(t, "a.txt"), "zip", "application/zip", KindDocument},
		{"empty", nil, "bin", "application/octet-stream", KindDocument},
		{"random bytes", []byte{0x00, 0x9f, 0x13, 0x77, 0xee, 0x01, 0x02, 0x80}, "bin", "application/octet-stream", KindDocument},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Detect(c.in)
			assert.Equal(t, c.format, got.Format)
			assert.Equal(t, c.ct, got.ContentType)
			assert.Equal(t, c.kind, got.Kind)
		})
	}
	assert.Equal(t, "audio/ogg; codecs=opus", Detect(oggPage("OpusHead\x01\x01\x38\x01")).HTTPContentType())
	assert.Equal(t, "image/jpeg", Detect(sample(t, "sample.jpg")).HTTPContentType())
}

func TestDetectLooksAtSniffLenOnly(t *testing.T) {
	// A DLL whose PE header sits past SniffLen is judged on the first
	// SniffLen bytes alone, like a caller passing only those.
	b := pe(SniffLen+0x100, SniffLen+0x10, true)
	assert.Equal(t, Detect(b[:SniffLen]), Detect(b))
}

// zipOf is a zip archive holding empty files named names.
func zipOf(t testing.TB, names ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, n := range names {
		_, err := z.Create(n)
		require.NoError(t, err)
	}
	require.NoError(t, z.Close())
	return b.Bytes()
}
