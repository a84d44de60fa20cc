package main

import (
	"bufio"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/xcally-connector/connector"

// floors places every package of the module (docs/decisions.md §18): a
// package imports only packages on its own floor or below, so the import
// graph has no arrow back up. A new package must be placed here.
var floors = map[string]int{
	"cmd/connector": 9,
	"bench":         8, "faults": 8,
	"app": 7,
	"api": 6, "web": 6, "worker": 6, "apiclient": 6, "devserver": 6,
	"inbound": 5, "diagnostics": 5, "agentevents": 5,
	"reports":    5,
	"workflows":  4,
	"activities": 3,
	"models":     2, "models/testdb": 2, "sinch": 2, "sinchsetup": 2, "sinch/emulator": 2, "config": 2, "deploy": 2,
	"deploy/observability": 2,
	"internal/browsertest": 1, "internal/fixtures": 1, "internal/freeport": 1, "internal/logctx": 1, "internal/media": 1,
	"internal/metrics": 1, "internal/piicodec": 1, "internal/principal": 1, "internal/ptr": 1, "internal/secretbox": 1, "internal/sleep": 1,
}

// maxFileLines is the most lines a non-test Go file may have: past it a
// file is cut by concern.
const maxFileLines = 700

type listedPackage struct {
	ImportPath string
	Imports    []string
}

// modulePackages lists the module's packages (go list ./...) with their
// non-test imports, paths relative to the module ("" for none).
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	require.NoError(t, err, "go list")
	pkgs := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		var own []string
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				own = append(own, rel)
			}
		}
		pkgs[strings.TrimPrefix(p.ImportPath, module+"/")] = own
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

func TestImportsOnlyGoDown(t *testing.T) {
	for pkg, imports := range modulePackages(t) {
		floor, ok := floors[pkg]
		if !assert.True(t, ok, "package %s is on no floor: place it in floors (and in docs/decisions.md §18)", pkg) {
			continue
		}
		for _, imp := range imports {
			assert.LessOrEqual(t, floors[imp], floor, "%s (floor %d) imports %s (floor %d): an arrow back up", pkg, floor, imp, floors[imp])
		}
	}
}

// The README's layout table names exactly the packages go list finds.
func TestReadmeLayoutListsEveryPackage(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	defer f.Close()
	row := regexp.MustCompile("^\\| `([a-z/]+)` \\|")
	var inTable []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			inTable = append(inTable, m[1])
		}
	}
	require.NoError(t, sc.Err())
	var listed []string
	for pkg := range modulePackages(t) {
		listed = append(listed, pkg)
	}
	sort.Strings(inTable)
	sort.Strings(listed)
	assert.Equal(t, listed, inTable, "README.md's layout table and go list ./... differ")
}

func TestNoGoFileIsPastTheLimit(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		lines := strings.Count(string(b), "\n")
		assert.LessOrEqual(t, lines, maxFileLines, "%s has %d lines: cut it by concern", path, lines)
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, checked, 100, "the walk found the module's Go files")
}
