package media

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestSafeFilename(t *testing.T) {
	jpg := Detect(sample(t, "sample.jpg"))
	pdf := Detect(sample(t, "sample.pdf"))
	exe := Detect(sample(t, "sample.exe"))
	dll := Detect(sample(t, "sample.dll"))
	txt := Detect([]byte("hello\n"))
	doc := Detect(sample(t, "sample.doc"))
	unknown := Detect([]byte{0x00, 0x9f, 0x13, 0x77})
	cases := []struct {
		name string
		in   string
		t    Type
		want string
	}{
		{"plain", "photo.jpg", jpg, "photo.jpg"},
		{"extension case kept", "Photo.JPG", jpg, "Photo.JPG"},
		{"alias extension", "photo.jpeg", jpg, "photo.jpeg"},
		{"no extension", "photo", jpg, "photo.jpg"},
		{"contradicting extension", "photo.exe", jpg, "photo.exe.jpg"},
		{"EXE named as a PDF", "invoice.pdf", exe, "invoice.pdf.exe"},
		{"DLL", "library.dll", dll, "library.dll"},
		{"EXE is not a DLL", "library.dll", exe, "library.dll.exe"},
		{"unix path", "/etc/passwd", txt, "passwd.txt"},
		{"traversal", "../../secret.pdf", pdf, "secret.pdf"},
		{"windows path", `C:\Users\ada\report.pdf`, pdf, "report.pdf"},
		{"mixed separators", `a/b\c/d.pdf`, pdf, "d.pdf"},
		{"dot dot only", "..", pdf, "attachment.pdf"},
		{"trailing slash", "dir/", pdf, "attachment.pdf"},
		{"empty", "", jpg, "attachment.jpg"},
		{"spaces only", "   ", jpg, "attachment.jpg"},
		{"hidden file", ".bashrc", txt, "bashrc.txt"},
		{"trailing dots and spaces", "report.pdf. . ", pdf, "report.pdf"},
		{"quotes and header characters", `a"b'c;d%e.pdf`, pdf, "a_b_c_d_e.pdf"},
		{"windows-reserved characters", "a*b?c<d>e|f:g`h.pdf", pdf, "a_b_c_d_e_f_g_h.pdf"},
		{"control characters", "re\x00po\r\nrt\x7f.pdf", pdf, "report.pdf"},
		{"tabs dropped, other spaces become one space", "my\t\u00a0 \u2028file.pdf", pdf, "my file.pdf"},
		{"right-to-left override", "photo\u202egpj.exe", exe, "photogpj.exe"},
		{"zero-width characters", "pho\u200bto.jpg", jpg, "photo.jpg"},
		{"invalid UTF-8", "ab\xff\xfe.pdf", pdf, "ab.pdf"},
		{"unicode kept", "fattura è pronta.pdf", pdf, "fattura è pronta.pdf"},
		{"html text gets .txt", "page.html", Detect([]byte("<html><script>x</script></html>")), "page.html.txt"},
		{"log text kept", "server.log", txt, "server.log"},
		{"OLE spreadsheet keeps .xls", "budget.xls", doc, "budget.xls"},
		{"unknown type always .bin", "drawing.dwg", unknown, "drawing.dwg.bin"},
		{"unknown type named .bin", "blob.bin", unknown, "blob.bin"},
		{"zero Type is unknown", "x.pdf", Type{}, "x.pdf.bin"},
		{"dot inside, no extension", "v1.2 final", pdf, "v1.2 final.pdf"},
		{"overlong extension is no extension", "a." + strings.Repeat("x", 17), pdf, "a." + strings.Repeat("x", 17) + ".pdf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, SafeFilename(c.in, c.t))
		})
	}
}

func TestSafeFilenameLength(t *testing.T) {
	pdf := Detect(sample(t, "sample.pdf"))
	jpg := Detect(sample(t, "sample.jpg"))

	got := SafeFilename(strings.Repeat("a", 500)+".pdf", pdf)
	assert.Len(t, got, MaxFilenameLen)
	assert.True(t, strings.HasSuffix(got, ".pdf"), "extension kept: %q", got)

	got = SafeFilename(strings.Repeat("a", 500)+".exe", jpg)
	assert.Len(t, got, MaxFilenameLen)
	assert.True(t, strings.HasSuffix(got, ".jpg"))

	// Cut between characters, never inside one.
	got = SafeFilename(strings.Repeat("è", 300)+".pdf", pdf)
	assert.LessOrEqual(t, len(got), MaxFilenameLen)
	assert.True(t, utf8.ValidString(got))
	assert.True(t, strings.HasSuffix(got, "è.pdf"))

	// Exactly at the limit is left alone.
	exact := strings.Repeat("b", MaxFilenameLen-4) + ".pdf"
	assert.Equal(t, exact, SafeFilename(exact, pdf))
}
