package api

import (
	"bytes"
	_ "embed" // the OpenAPI document
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is api/openapi.json: the OpenAPI 3 description of every
// route New registers. openapi_test.go keeps it true: every registered
// route is documented, every documented one registered, and real responses
// validate against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns a copy of the OpenAPI 3 document served at
// GET /openapi.json.
func OpenAPI() []byte {
	return bytes.Clone(openAPIDocument)
}

// serveOpenAPI handles GET /openapi.json (no auth: it holds no secret).
func serveOpenAPI(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
