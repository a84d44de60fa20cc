package emulator

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MiB is the unit of the WhatsApp media size limits.
const MiB = 1 << 20

// WhatsApp media kinds recorded in the outbox.
const (
	KindImage    = "image"
	KindAudio    = "audio"
	KindVideo    = "video"
	KindDocument = "document"
)

// mediaFormat is how WhatsApp (through Sinch) treats one file type: sent
// as kind up to limit bytes, or failed with reason.
type mediaFormat struct {
	kind   string
	limit  int64
	reason string
}

// formats is the "Supported attachment" list of Motion's Sinch V2 guide,
// with the size limits of Sinch's WhatsApp message-support page (audio:
// Meta's 16 MB).
var formats = map[string]mediaFormat{
	"jpg":  {kind: KindImage, limit: 5 * MiB},
	"jpeg": {kind: KindImage, limit: 5 * MiB},
	"png":  {kind: KindImage, limit: 5 * MiB},
	"mp3":  {kind: KindAudio, limit: 16 * MiB},
	"mp4":  {kind: KindVideo, limit: 16 * MiB},
	"pdf":  {kind: KindDocument, limit: 100 * MiB},
	"csv":  {kind: KindDocument, limit: 100 * MiB},
	"dll":  {kind: KindDocument, limit: 100 * MiB},
	"gif":  {reason: ReasonChannelFailure},
	"doc":  {reason: ReasonChannelFailure},
	"docx": {reason: ReasonChannelFailure},
	"wav":  {reason: ReasonBadRequest},
	"exe":  {reason: ReasonBadRequest},
}

// contentTypes maps media types to the formats above. The Windows
// executable types name both DLL and EXE, so the extension decides.
var contentTypes = map[string]string{
	"image/jpeg": "jpg", "image/jpg": "jpg", "image/pjpeg": "jpg",
	"image/png":  "png",
	"audio/mpeg": "mp3", "audio/mp3": "mp3",
	"video/mp4":       "mp4",
	"application/pdf": "pdf",
	"text/csv":        "csv", "application/csv": "csv",
	"image/gif":          "gif",
	"application/msword": "doc",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
	"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
	"application/x-msdownload":                      "exe",
	"application/vnd.microsoft.portable-executable": "exe",
	"application/x-dosexec":                         "exe",
	"application/x-msdos-program":                   "exe",
}

// detectFormat names the file type of a media response: its Content-Type
// when that is known (executables refined by extension), else the extension
// of the URL path, else that of filename. ok is false when nothing matches.
func detectFormat(contentType, rawURL, filename string) (string, bool) {
	ext := ""
	if u, err := url.Parse(rawURL); err == nil {
		ext = strings.TrimPrefix(strings.ToLower(path.Ext(u.Path)), ".")
	}
	if _, known := formats[ext]; !known {
		ext = strings.TrimPrefix(strings.ToLower(path.Ext(filename)), ".")
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if f, ok := contentTypes[strings.ToLower(mt)]; ok {
		if f == "exe" && ext == "dll" {
			return "dll", true
		}
		return f, true
	}
	if _, ok := formats[ext]; ok {
		return ext, true
	}
	return "", false
}

// checkMedia fetches a media URL the way Sinch does before handing it to
// WhatsApp and returns the kind it is sent as, or the FAILED reason code.
func (s *Server) checkMedia(ctx context.Context, rawURL, filename string) (kind, reason string) {
	ctx, cancel := context.WithTimeout(ctx, mediaFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", ReasonMediaNotReachable
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", ReasonMediaNotReachable
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", ReasonMediaNotReachable
	}
	name, ok := detectFormat(resp.Header.Get("Content-Type"), rawURL, filename)
	if !ok {
		return "", ReasonMediaTypeUnsupported
	}
	f := formats[name]
	if f.reason != "" {
		return "", f.reason
	}
	if resp.ContentLength > f.limit {
		return "", ReasonMediaTooLarge
	}
	// Read one byte past the limit to tell "at the limit" from "over it".
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, f.limit+1))
	switch {
	case err != nil:
		return "", ReasonMediaNotReachable
	case n > f.limit:
		return "", ReasonMediaTooLarge
	}
	return f.kind, ""
}

// sample is a generated file served under /emulator/media.
type sample struct {
	contentType string
	data        []byte
}

var (
	samplesOnce sync.Once
	samples     map[string]sample
)

// sampleFiles generates the sample files once: small, but valid enough to
// be recognised by type.
func sampleFiles() map[string]sample {
	samplesOnce.Do(func() {
		img := image.NewRGBA(image.Rect(0, 0, 8, 8))
		for x := range 8 {
			for y := range 8 {
				img.Set(x, y, color.RGBA{R: uint8(x * 32), G: uint8(y * 32), B: 128, A: 255})
			}
		}
		var jpg, pngBuf, gifBuf bytes.Buffer
		_ = jpeg.Encode(&jpg, img, nil)
		_ = png.Encode(&pngBuf, img)
		_ = gif.Encode(&gifBuf, img, nil) // quantized to the Plan 9 palette
		samples = map[string]sample{
			"sample.jpg":  {"image/jpeg", jpg.Bytes()},
			"sample.jpeg": {"image/jpeg", jpg.Bytes()},
			"sample.png":  {"image/png", pngBuf.Bytes()},
			"sample.gif":  {"image/gif", gifBuf.Bytes()},
			"sample.pdf":  {"application/pdf", samplePDF()},
			"sample.mp3":  {"audio/mpeg", sampleMP3()},
			"sample.mp4":  {"video/mp4", sampleMP4()},
			"sample.csv":  {"text/csv; charset=utf-8", []byte("name,phone\nAda Lovelace,393331234567\nAlan Turing,447700900123\n")},
			"sample.wav":  {"audio/wav", sampleWAV()},
			"sample.exe":  {"application/vnd.microsoft.portable-executable", samplePE(false)},
			"sample.dll":  {"application/x-msdownload", samplePE(true)},
			"sample.doc":  {"application/msword", sampleOLE()},
			"sample.docx": {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", sampleDOCX()},
		}
	})
	return samples
}

// Sample returns one of the generated sample files (sample.jpg,
// sample.png, sample.gif, sample.pdf, sample.mp3, sample.mp4, sample.csv,
// sample.wav, sample.exe, sample.dll, sample.doc, sample.docx): a fresh
// copy of its bytes and the Content-Type the emulator serves it with.
func Sample(name string) (contentType string, data []byte, ok bool) {
	f, ok := sampleFiles()[name]
	if !ok {
		return "", nil, false
	}
	return f.contentType, append([]byte(nil), f.data...), true
}

// SampleNames lists the generated sample files.
func SampleNames() []string {
	names := make([]string, 0, len(sampleFiles()))
	for n := range sampleFiles() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// samplePDF is a one-page PDF with a correct cross-reference table.
func samplePDF() []byte {
	content := "BT /F1 12 Tf 20 50 Td (Sinch emulator sample) Tj ET"
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

// sampleMP3 is ten silent MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz,
// mono): a frame header each, zero padded to the 417-byte frame length.
func sampleMP3() []byte {
	frame := make([]byte, 417)
	copy(frame, []byte{0xFF, 0xFB, 0x90, 0xC4})
	return bytes.Repeat(frame, 10)
}

// sampleMP4 is an ftyp box followed by an empty mdat box.
func sampleMP4() []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0, 24})
	b.WriteString("ftypmp42")
	b.Write([]byte{0, 0, 0, 0})
	b.WriteString("mp42isom")
	b.Write([]byte{0, 0, 0, 8})
	b.WriteString("mdat")
	return b.Bytes()
}

// sampleWAV is 0.1 s of 16-bit mono 8 kHz PCM silence.
func sampleWAV() []byte {
	const rate, samples = 8000, 800
	data := samples * 2
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + data))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(rate))
	le(uint32(rate * 2))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(data))
	b.Write(make([]byte, data))
	return b.Bytes()
}

// samplePE is an MZ header pointing at a PE signature and COFF header,
// flagged as a DLL when dll is true.
func samplePE(dll bool) []byte {
	b := make([]byte, 0x40+4+20)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3C:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	coff := b[0x44:]
	binary.LittleEndian.PutUint16(coff[0:], 0x8664) // x86-64
	chars := uint16(0x0002)                         // executable image
	if dll {
		chars |= 0x2000
	}
	binary.LittleEndian.PutUint16(coff[18:], chars)
	return b
}

// sampleOLE is the 512-byte header of an OLE2 compound file (legacy .doc).
func sampleOLE() []byte {
	b := make([]byte, 512)
	copy(b, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1})
	return b
}

// sampleDOCX is a minimal Office Open XML word document.
func sampleDOCX() []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for name, body := range map[string]string{
		"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
		"word/document.xml":   `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Sinch emulator sample</w:t></w:r></w:p></w:body></w:document>`,
	} {
		w, _ := z.Create(name)
		_, _ = io.WriteString(w, body)
	}
	_ = z.Close()
	return b.Bytes()
}

// maxBigMB caps big.jpg so a typo cannot stream gigabytes.
const maxBigMB = 200

// handleMedia serves the sample files and big.jpg?mb=N.
func (s *Server) handleMedia(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "big.jpg" {
		serveBigJPEG(w, r)
		return
	}
	f, ok := sampleFiles()[name]
	if !ok {
		writeStatus(w, http.StatusNotFound, fmt.Sprintf("no media file %q", name))
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
}

// serveBigJPEG streams N MiB (default 6) of JPEG-typed bytes: a JPEG start
// marker, zeros, and an end marker.
func serveBigJPEG(w http.ResponseWriter, r *http.Request) {
	mb := 6
	if v := r.URL.Query().Get("mb"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxBigMB {
			writeEmulatorError(w, invalidf("mb must be an integer from 1 to %d", maxBigMB))
			return
		}
		mb = n
	}
	size := int64(mb) * MiB
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	chunk := make([]byte, 64<<10)
	copy(chunk, []byte{0xFF, 0xD8, 0xFF, 0xE0})
	for written := int64(0); written < size; {
		n := min(int64(len(chunk)), size-written)
		if written+n == size {
			chunk[n-2], chunk[n-1] = 0xFF, 0xD9
		}
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		written += n
		if written == int64(len(chunk)) {
			chunk[0], chunk[1], chunk[2], chunk[3] = 0, 0, 0, 0
		}
	}
}
