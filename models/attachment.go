package models

import "time"

// Attachment is a media file of a message: fetched from Sinch for inbound
// messages, uploaded by an agent for outbound ones, and served to Sinch
// through a signed URL. The bytes live in the media store under
// StorageKey (content-addressed); only ids and keys travel through
// Temporal.
type Attachment struct {
	ID        uint64 `gorm:"primaryKey"`
	MessageID uint64 `gorm:"not null;uniqueIndex:ux_attachments_message_url"`
	Message   Message
	// AccountID is the message's account (authorisation without a join).
	AccountID uint64 `gorm:"not null;default:0;index"`
	// SourceURL is where the file came from: Sinch's media URL for inbound,
	// "upload:<sha256>" for a file an agent sent.
	SourceURL string `gorm:"size:2048;not null;uniqueIndex:ux_attachments_message_url"`
	// Direction is inbound (fetched) or outbound (uploaded).
	Direction Direction `gorm:"size:16;not null;default:inbound"`
	// Kind is image, video, audio, document or sticker.
	Kind string `gorm:"size:16"`
	// Format is the sniffed file type (jpg, pdf, dll, …); ContentType its
	// media type, from the bytes, never from a name or a header.
	Format      string `gorm:"size:16"`
	ContentType string `gorm:"size:255"`
	Filename    string `gorm:"size:255"`
	Size        int64
	SHA256      string `gorm:"size:64"`
	// StoragePath is the key of the stored bytes in the media store.
	StoragePath string           `gorm:"size:1024;index"`
	Status      AttachmentStatus `gorm:"size:16;not null"`
	// Error is why the latest fetch failed (kept while it is retried).
	Error string `gorm:"type:text"`
	// Attempts counts fetch attempts; FetchedAt is when the file was stored.
	Attempts  int `gorm:"not null;default:0"`
	FetchedAt *time.Time
	// DeletedAt is when the file was deleted (by an admin) or expired (by
	// retention); the row stays, so the conversation keeps "a file was here".
	DeletedAt *time.Time
	// ReleasedAt is when a deleted or expired attachment let go of its
	// bytes: they were removed from the media store, or kept because another
	// attachment still holding its file uses the same content. NULL while
	// that is still to do; the retention workflow finishes it.
	ReleasedAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// AttachmentExpired: the file was stored longer ago than RETENTION_MEDIA
// and the retention workflow deleted it (DeletedAt says when); its links
// answer 410 attachment_expired.
const AttachmentExpired AttachmentStatus = "expired"

// Gone reports whether the attachment's file was removed for good: deleted
// by an admin or expired by retention.
func (s AttachmentStatus) Gone() bool {
	return s == AttachmentDeleted || s == AttachmentExpired
}

// GoneAttachmentStatuses are the states whose file was removed for good;
// an attachment in any other state may still hold its bytes.
func GoneAttachmentStatuses() []AttachmentStatus {
	return []AttachmentStatus{AttachmentDeleted, AttachmentExpired}
}
