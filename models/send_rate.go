package models

import "time"

// SendRateSlot is the shared send schedule of one Sinch app: NextAt is the
// earliest time the next messages:send may start. Every worker reserves its
// slot by moving NextAt forward under a row lock, so the app's rate holds
// however many worker processes send (a GCRA-style virtual schedule).
type SendRateSlot struct {
	// AppID is the Sinch app id: Sinch's limit is per app.
	AppID     string    `gorm:"primaryKey;size:128"`
	NextAt    time.Time `gorm:"not null"`
	UpdatedAt time.Time
}
