package models

import "time"

// Attachment is a media file of a message: fetched from Sinch for inbound
// messages, uploaded by an agent for outbound ones, and served to Sinch
// through a signed URL.
type Attachment struct {
	ID        uint64 `gorm:"primaryKey"`
	MessageID uint64 `gorm:"not null;uniqueIndex:ux_attachments_message_url"`
	Message   Message
	// SourceURL is where the file came from (Sinch's media URL for inbound).
	SourceURL string `gorm:"size:2048;not null;uniqueIndex:ux_attachments_message_url"`
	// Kind is image, video, audio, document or sticker.
	Kind        string `gorm:"size:16"`
	ContentType string `gorm:"size:255"`
	Filename    string `gorm:"size:255"`
	Size        int64
	SHA256      string `gorm:"size:64"`
	// StoragePath is the key of the stored bytes in the media store.
	StoragePath string           `gorm:"size:1024"`
	Status      AttachmentStatus `gorm:"size:16;not null"`
	Error       string           `gorm:"type:text"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}
