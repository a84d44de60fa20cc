package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/internal/principal"
	"github.com/xcally-connector/connector/models"
)

// Principal is who is calling: the admin, or one agent.
type Principal = principal.Principal

// principalKey is the echo context key of the authenticated Principal.
const principalKey = "api.principal"

// principalFrom returns the caller set by the auth middleware; the zero
// Principal (no rights) when the route has none.
func principalFrom(c echo.Context) Principal {
	p, _ := c.Get(principalKey).(Principal)
	return p
}

// requireAgentOrAdmin accepts `Authorization: Bearer <ADMIN_TOKEN>` or the
// token of a live agent, found by its SHA-256, or the Principal an
// in-process caller (the console) put in the request's context. A missing
// or unknown token is a 401; whether the caller may act on the agent of
// the path is the handler's check (authorizeAgent), a 403.
func (s *Server) requireAgentOrAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	admin := []byte(s.deps.AdminToken)
	return func(c echo.Context) error {
		if p, ok := principal.From(c.Request().Context()); ok {
			c.Set(principalKey, p)
			return next(c)
		}
		tok, ok := bearerToken(c.Request())
		if !ok {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
			return errUnauthorized("missing bearer token: send Authorization: Bearer <token>")
		}
		if len(admin) > 0 && subtle.ConstantTimeCompare([]byte(tok), admin) == 1 {
			c.Set(principalKey, Principal{Admin: true})
			return next(c)
		}
		var agent models.Agent
		hash := hashToken(tok)
		err := s.deps.DB.WithContext(c.Request().Context()).
			Select("id").Where("token_hash = ?", hash).Take(&agent).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer error="invalid_token"`)
			return errUnauthorized("unknown or revoked token")
		}
		if err != nil {
			return fmt.Errorf("look up agent token: %w", err)
		}
		c.Set(principalKey, Principal{AgentID: agent.ID, TokenHash: hash})
		return next(c)
	}
}

// agentOfPath reads the agent of the path (:id) that the caller acts on:
// the admin may act on any, an agent only on itself (else 403).
func agentOfPath(c echo.Context) (uint64, error) {
	id, err := parseID(c, "id")
	if err != nil {
		return 0, err
	}
	return id, authorizeAgent(c, id)
}

// authorizeAgent is the 403 of a caller acting on another agent.
func authorizeAgent(c echo.Context, agentID uint64) error {
	if !principalFrom(c).CanActAs(agentID) {
		return errForbidden("an agent token may only act on its own agent")
	}
	return nil
}

// hashToken is the stored form of an agent token: hex(sha256(token)).
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// Whoami is the answer of GET /api/whoami.
type Whoami struct {
	Admin   bool   `json:"admin"`
	AgentID uint64 `json:"agentId,omitempty"`
	Name    string `json:"name,omitempty"`
}

// whoami names the bearer of the token: the admin, or an agent with its
// name (a client checks a token with it; the console signs in with it).
func (s *Server) whoami(c echo.Context) error {
	p := principalFrom(c)
	if p.Admin {
		return c.JSON(http.StatusOK, Whoami{Admin: true})
	}
	var a models.Agent
	if err := s.deps.DB.WithContext(c.Request().Context()).Select("id", "name").Take(&a, p.AgentID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return errUnauthorized("unknown or revoked token")
		}
		return fmt.Errorf("look up agent: %w", err)
	}
	return c.JSON(http.StatusOK, Whoami{AgentID: a.ID, Name: a.Name})
}
