package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vendored pins every file under static/vendor (static/vendor/README.md
// says where each comes from): its SHA-256 as published on npm.
var vendored = map[string]string{
	"htmx-2.0.11/htmx.min.js":        "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
	"htmx-2.0.11/LICENSE":            "d3d2456f76414f2456104660ebd65aff1c04cd7966b942bdabd63f3cdb316a38",
	"htmx-ext-sse-2.2.4/sse.min.js":  "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136",
	"htmx-ext-sse-2.2.4/LICENSE":     "a17d224ce9afdc21ec9491b76a2f5d036d19aa641ac4f85ca29c21f9f7e54fdf",
	"uplot-1.6.32/uPlot.iife.min.js": "19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f",
	"uplot-1.6.32/uPlot.min.css":     "df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04",
	"uplot-1.6.32/LICENSE":           "8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd",
}

// TestVendoredFilesArePinned fails when a vendored file changed, is
// missing, or was added without a pin (and a licence beside it).
func TestVendoredFilesArePinned(t *testing.T) {
	seen := map[string]bool{}
	err := fs.WalkDir(staticFS, "static/vendor", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "static/vendor/README.md" {
			return err
		}
		rel := strings.TrimPrefix(p, "static/vendor/")
		b, err := staticFS.ReadFile(p)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		want, ok := vendored[rel]
		if assert.True(t, ok, "%s is vendored without a pin", rel) {
			assert.Equal(t, want, hex.EncodeToString(sum[:]), "%s is not the pinned file", rel)
		}
		seen[rel] = true
		return nil
	})
	require.NoError(t, err)
	for rel := range vendored {
		assert.True(t, seen[rel], "%s is pinned but missing", rel)
		dir, _, _ := strings.Cut(rel, "/")
		assert.True(t, seen[dir+"/LICENSE"], "%s has no LICENSE beside it", dir)
	}
}

// TestPagesLinkOnlyVendoredAndOwnAssets: every script and stylesheet a
// template links is a file the binary serves.
func TestPagesLinkOnlyVendoredAndOwnAssets(t *testing.T) {
	err := fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templateFS.ReadFile(p)
		require.NoError(t, err)
		for _, attr := range []string{`src="`, `href="`} {
			for rest := string(b); ; {
				i := strings.Index(rest, attr)
				if i < 0 {
					break
				}
				rest = rest[i+len(attr):]
				link, _, _ := strings.Cut(rest, `"`)
				if !strings.HasPrefix(link, "/console/static/") {
					continue
				}
				_, err := fs.Stat(staticFS, "static/"+strings.TrimPrefix(link, "/console/static/"))
				assert.NoError(t, err, "%s links %s", p, link)
			}
		}
		return nil
	})
	require.NoError(t, err)
}
