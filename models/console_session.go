package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// ConsoleSession is a signed-in browser of the web console: the admin or
// one agent. The cookie holds a random secret; only its SHA-256 is stored,
// so the table gives no one a way in. A session ends at ExpiresAt, which
// each use moves forward by the idle timeout but never past the
// session's maximum age, or when the agent's token changes (rotation,
// deletion), or at sign-out.
type ConsoleSession struct {
	ID uint64 `gorm:"primaryKey"`
	// SecretHash is hex(sha256(the cookie's secret)).
	SecretHash string `gorm:"size:64;not null;uniqueIndex"`
	Admin      bool   `gorm:"not null;default:false"`
	// AgentID and AgentTokenHash are the signed-in agent and the hash of
	// the token it signed in with (0 and empty for the admin).
	AgentID        uint64 `gorm:"not null;default:0;index"`
	AgentTokenHash string `gorm:"size:64;not null;default:''"`
	// CSRF is the token every form and htmx request of the session
	// carries.
	CSRF       string    `gorm:"size:64;not null"`
	CreatedAt  time.Time `gorm:"not null"`
	LastSeenAt time.Time `gorm:"not null"`
	// MaxAt is when the session ends whatever its use; ExpiresAt when it
	// ends unless used again.
	MaxAt     time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

// FindConsoleSession returns the live session whose secret hashes to
// secretHash (gorm.ErrRecordNotFound when there is none or it expired).
func FindConsoleSession(ctx context.Context, db *gorm.DB, secretHash string, now time.Time) (*ConsoleSession, error) {
	var s ConsoleSession
	err := db.WithContext(ctx).Where("secret_hash = ? AND expires_at > ?", secretHash, now.UTC()).Take(&s).Error
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// TouchConsoleSession records a use of the session at now: its expiry
// moves to now+idle, capped at its maximum age. Uses closer together than
// a minute write nothing (a page and its fragments are one use).
func TouchConsoleSession(ctx context.Context, db *gorm.DB, s *ConsoleSession, now time.Time, idle time.Duration) error {
	if now.Sub(s.LastSeenAt) < time.Minute {
		return nil
	}
	exp := now.Add(idle)
	if exp.After(s.MaxAt) {
		exp = s.MaxAt
	}
	s.LastSeenAt, s.ExpiresAt = now.UTC(), exp.UTC()
	return db.WithContext(ctx).Model(&ConsoleSession{}).Where("id = ?", s.ID).
		Updates(map[string]any{"last_seen_at": s.LastSeenAt, "expires_at": s.ExpiresAt}).Error
}

// DeleteConsoleSession ends the session whose secret hashes to secretHash
// (sign-out); ending one that is gone is no error.
func DeleteConsoleSession(ctx context.Context, db *gorm.DB, secretHash string) error {
	return db.WithContext(ctx).Where("secret_hash = ?", secretHash).Delete(&ConsoleSession{}).Error
}

// DeleteExpiredConsoleSessions removes the sessions that ended before now.
func DeleteExpiredConsoleSessions(ctx context.Context, db *gorm.DB, now time.Time) (int64, error) {
	res := db.WithContext(ctx).Where("expires_at <= ?", now.UTC()).Delete(&ConsoleSession{})
	return res.RowsAffected, res.Error
}
