package media

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFilenameLen is the longest name SafeFilename returns, in bytes.
const MaxFilenameLen = 200

// maxExtLen is the longest suffix SafeFilename takes for an extension.
const maxExtLen = 16

// extAliases lists, per Format, the extensions a file of that format is
// commonly named with besides Ext. Text gets only extensions no system
// runs or renders (no .html, .svg, .js, .bat, .ps1).
var extAliases = map[string][]string{
	"jpg":  {".jpeg", ".jpe", ".jfif"},
	"3gp":  {".3gpp"},
	"m4a":  {".mp4", ".m4b"},
	"mp4":  {".m4v"},
	"opus": {".opus", ".oga"},
	"ogg":  {".oga"},
	"wav":  {".wave"},
	"csv":  {".txt"},
	"txt":  {".text", ".log", ".md", ".csv", ".tsv", ".json"},
	"doc":  {".dot", ".xls", ".xlt", ".ppt", ".pps", ".pot", ".msg", ".pub", ".msi", ".vsd"},
	"docx": {".docm", ".dotx"},
	"exe":  {".scr", ".com", ".sys", ".efi"},
	"dll":  {".ocx", ".cpl", ".drv", ".ax", ".mui"},
}

// SafeFilename makes a display/download file name from an untrusted one:
//   - the base name only (no directories; both / and \ separate);
//   - no control characters (tabs and newlines included) or invisible
//     formatting characters (among them the right-to-left override that
//     makes "photo\u202Egpj.exe" read as "photoexe.jpg"); each run of
//     other spaces becomes one plain space;
//   - quotes and characters unsafe in Content-Disposition or in Windows
//     names (" ' ; % * ? < > | : `) replaced by "_";
//   - trimmed of spaces and dots at both ends (no hidden files, no "..");
//   - at most MaxFilenameLen bytes, cut in the name, keeping the extension;
//   - "attachment" when nothing is left.
//
// The extension must agree with the content: when the name has none, or
// one that contradicts t (what Detect found in the bytes), t.Ext is
// appended. So "photo.exe" that is really a JPG becomes "photo.exe.jpg", and
// "invoice.pdf" that is really an EXE becomes "invoice.pdf.exe": whoever
// opens the download gets what the bytes are, not what the name claims.
// A file of unknown type (Format "bin") vouches for no extension: its name
// always ends in ".bin".
func SafeFilename(name string, t Type) string {
	if t.Ext == "" {
		t = Unknown
	}
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Trim(cleanRunes(name), " .")
	if name == "" {
		name = "attachment"
	}
	stem, ext := splitExt(name)
	if ext == "" || !extMatches(ext, t) {
		stem, ext = name, t.Ext
	}
	if len(stem)+len(ext) > MaxFilenameLen {
		stem = truncateUTF8(stem, MaxFilenameLen-len(ext))
		stem = strings.TrimRight(stem, " .")
		if stem == "" {
			stem = "attachment"
		}
	}
	return stem + ext
}

// cleanRunes drops control characters (tabs and newlines too) and
// formatting characters, turns each run of other spaces into one plain
// space and replaces the characters unsafe in headers and file names.
func cleanRunes(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			continue
		case unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		case strings.ContainsRune("\"';%*?<>|:`", r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
		space = false
	}
	return b.String()
}

// splitExt splits name into a stem and an extension (with its dot): the
// suffix after the last dot, when it is 1 to maxExtLen ASCII letters or
// digits and the stem is not empty. Otherwise ext is "".
func splitExt(name string) (stem, ext string) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || len(name)-i-1 < 1 || len(name)-i-1 > maxExtLen {
		return name, ""
	}
	for _, c := range []byte(name[i+1:]) {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return name, ""
		}
	}
	return name[:i], name[i:]
}

// extMatches reports whether ext is a usual extension for files of type t.
func extMatches(ext string, t Type) bool {
	ext = strings.ToLower(ext)
	if ext == t.Ext || ext == "."+t.Format {
		return true
	}
	for _, a := range extAliases[t.Format] {
		if ext == a {
			return true
		}
	}
	return false
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
