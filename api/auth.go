package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// Principal is who is calling: the admin, or one agent.
type Principal struct {
	// Admin is true for the bearer of ADMIN_TOKEN.
	Admin bool
	// AgentID is the calling agent (0 for the admin).
	AgentID uint64
	// TokenHash is the agent token's stored hash: a long-lived stream
	// checks it is still the agent's (rotation and deletion end streams).
	TokenHash string
}

// CanActAs reports whether the caller may act for agentID: the admin may act
// for every agent, an agent only for itself.
func (p Principal) CanActAs(agentID uint64) bool {
	return p.Admin || (p.AgentID != 0 && p.AgentID == agentID)
}

// principalKey is the echo context key of the authenticated Principal.
const principalKey = "api.principal"

// principalFrom returns the caller set by the auth middleware; the zero
// Principal (no rights) when the route has none.
func principalFrom(c echo.Context) Principal {
	p, _ := c.Get(principalKey).(Principal)
	return p
}

// requireAgentOrAdmin accepts `Authorization: Bearer <ADMIN_TOKEN>` or the
// token of a live agent, found by its SHA-256. A missing or unknown token
// is a 401; whether the caller may act on the agent of the path is the
// handler's check (authorizeAgent), a 403.
func (s *Server) requireAgentOrAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	admin := []byte(s.deps.AdminToken)
	return func(c echo.Context) error {
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
