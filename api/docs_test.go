package api_test

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/xcally-connector/connector/api"
)

// docRoute matches an operation written in a Markdown code span, such as
// `GET /api/queues/{id}`: the method, then the path up to a space, a query
// string or the closing backtick.
var docRoute = regexp.MustCompile("`(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (/[^`\\s?]*)")

// openAPIOperations are the operations of api/openapi.json, as "METHOD /path".
func openAPIOperations(t *testing.T) map[string]bool {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(api.OpenAPI(), &doc))
	methods := []string{"get", "head", "post", "put", "patch", "delete", "options"}
	ops := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if slices.Contains(methods, method) {
				ops[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	require.NotEmpty(t, ops)
	return ops
}

// documentedRoutes are the operations a Markdown file names in code spans.
func documentedRoutes(t *testing.T, name string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	out := map[string]bool{}
	for _, m := range docRoute.FindAllStringSubmatch(string(b), -1) {
		out[m[1]+" "+m[2]] = true
	}
	return out
}

// TestAPIDocMatchesOpenAPI keeps docs/api.md, the hand-written reference,
// from drifting away from api/openapi.json, the contract TestOpenAPI keeps
// true to the code: every operation of the document is in docs/api.md, and
// docs/api.md names no operation the document lacks.
func TestAPIDocMatchesOpenAPI(t *testing.T) {
	ops := openAPIOperations(t)
	doc := documentedRoutes(t, "../docs/api.md")
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		assert.True(t, doc[op], "docs/api.md does not document %s (add it to a route table)", op)
	}
	for _, op := range slices.Sorted(maps.Keys(doc)) {
		assert.True(t, ops[op], "docs/api.md names %s, which api/openapi.json lacks", op)
	}
}

// TestAPIDocRoutesElsewhereExist checks that the README and the other docs
// name only operations the API has (the Sinch emulator's page documents the
// emulator's own routes, and the decision records are history).
func TestAPIDocRoutesElsewhereExist(t *testing.T) {
	ops := openAPIOperations(t)
	for _, name := range []string{"../README.md", "../docs/operating.md", "../docs/faults.md", "../docs/deploy.md"} {
		if _, err := os.Stat(name); os.IsNotExist(err) {
			continue
		}
		for _, op := range slices.Sorted(maps.Keys(documentedRoutes(t, name))) {
			assert.True(t, ops[op], "%s names %s, which api/openapi.json lacks", strings.TrimPrefix(name, "../"), op)
		}
	}
}
