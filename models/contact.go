package models

import "time"

// Contact is a customer as seen on one channel of one account. Identity is
// the channel identity (for WhatsApp the MSISDN without "+"), which keys the
// contact even in DISPATCH mode where Sinch sends no contact_id.
type Contact struct {
	ID        uint64 `gorm:"primaryKey"`
	AccountID uint64 `gorm:"not null;uniqueIndex:ux_contacts_identity"`
	Account   Account
	Channel   Channel `gorm:"size:32;not null;uniqueIndex:ux_contacts_identity"`
	Identity  string  `gorm:"size:255;not null;uniqueIndex:ux_contacts_identity"`
	// SinchContactID is Sinch's contact_id (CONVERSATION mode only).
	SinchContactID string `gorm:"size:128;index"`
	DisplayName    string `gorm:"size:255"`
	// Mobile is the phone number in E.164 for WhatsApp contacts.
	Mobile    string `gorm:"size:32"`
	CreatedAt time.Time
	UpdatedAt time.Time
}
