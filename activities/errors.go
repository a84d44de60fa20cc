package activities

import (
	"errors"

	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"github.com/xcally-connector/connector/models"
)

// Application error types returned by activities. Permanent failures are
// returned as non-retryable application errors with one of these types, so
// workflows branch on appErr.Type() and never on message text.
const (
	// ErrTypeSchemaOutdated: the database schema is older than the binary.
	ErrTypeSchemaOutdated = "SchemaOutdated"
	// ErrTypeBadInput: the activity was called with input it can never accept.
	ErrTypeBadInput = "BadInput"
	// ErrTypeNotOpen: the interaction is closed (or gone).
	ErrTypeNotOpen = "InteractionNotOpen"
	// ErrTypeNotAssigned: the acting agent does not hold the interaction.
	ErrTypeNotAssigned = "InteractionNotAssigned"
	// ErrTypeNotEligible: the agent or queue cannot take the interaction
	// (account not enabled, capacity reached, deleted, …).
	ErrTypeNotEligible = "NotEligible"
)

func isNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }

// Application error types of a failed outbound send, one per failure class
// (models.ErrorClass). The send activity returns them non-retryable with a
// Failure as details; the workflow records the failure and, for the network
// class only, may resend.
const (
	ErrTypeSinchNetwork     = "SinchNetwork"
	ErrTypeMetaPolicy       = "MetaPolicy"
	ErrTypeSinchConfig      = "SinchConfig"
	ErrTypeSupport          = "SinchSupport"
	ErrTypeMediaUnsupported = "MediaUnsupported"
)

// errTypeOfClass maps a failure class to its application error type.
var errTypeOfClass = map[models.ErrorClass]string{
	models.ErrorClassNetwork: ErrTypeSinchNetwork,
	models.ErrorClassPolicy:  ErrTypeMetaPolicy,
	models.ErrorClassConfig:  ErrTypeSinchConfig,
	models.ErrorClassSupport: ErrTypeSupport,
	models.ErrorClassMedia:   ErrTypeMediaUnsupported,
}

// Failure is a classified outbound failure: Sinch's code (kept verbatim),
// its class and the advice shown to the agent.
type Failure struct {
	Code    string
	Class   models.ErrorClass
	Message string
	// Description is Sinch's own text, when it sent one.
	Description string
}

// ReasonSplitRequired is the reason code that makes the connector resend a
// text in parts instead of failing it.
const ReasonSplitRequired = "MESSAGE_SPLIT_REQUIRED"

// Advice texts of the failure classes (the Troubleshooting table of Motion's
// Sinch V2 setup guide).
const (
	adviceNetwork = "a network error at Sinch or WhatsApp; the connector resent the message automatically and it still failed: try again later"
	advicePolicy  = "WhatsApp (Meta) refused the message for a policy reason: the WhatsApp Business account may be blocked by Meta. Review Meta's Business Policy and contact your Meta account manager"
	adviceConfig  = "a Sinch configuration error: check the Sinch account settings (app, channel, sender number, keys and region) of this WhatsApp account"
	adviceSupport = "contact support with these details"
)

// reasonAdvice is the failure class and advice of every Sinch reason code
// Motion's Sinch V2 setup guide lists; codes not listed are support errors.
var reasonAdvice = map[string]struct {
	class  models.ErrorClass
	advice string
}{
	// Network errors, try again later.
	"RATE_LIMITED":       {models.ErrorClassNetwork, adviceNetwork},
	"DELIVERY_TIMED_OUT": {models.ErrorClassNetwork, adviceNetwork},
	"MESSAGE_EXPIRED":    {models.ErrorClassNetwork, adviceNetwork},
	"CHANNEL_REJECT":     {models.ErrorClassNetwork, adviceNetwork},
	// Meta policy: the account may be blocked.
	"RECIPIENT_NOT_OPTED_IN":          {models.ErrorClassPolicy, advicePolicy},
	"OUTSIDE_ALLOWED_SENDING_WINDOW":  {models.ErrorClassPolicy, "more than 24 hours passed since the customer's last message, so WhatsApp only accepts approved templates, which the connector does not send; wait for the customer to write again. " + advicePolicy},
	"DELIVERY_REJECTED_DUE_TO_POLICY": {models.ErrorClassPolicy, advicePolicy},
	"NO_PERMISSION":                   {models.ErrorClassPolicy, advicePolicy},
	"NO_PROFILE_AVAILABLE":            {models.ErrorClassPolicy, advicePolicy},
	"INACTIVE_CREDENTIAL":             {models.ErrorClassPolicy, advicePolicy},
	// Sinch configuration.
	"RECIPIENT_NOT_REACHABLE":                   {models.ErrorClassConfig, adviceConfig},
	"CHANNEL_BAD_CONFIGURATION":                 {models.ErrorClassConfig, adviceConfig},
	"CHANNEL_CONFIGURATION_MISSING":             {models.ErrorClassConfig, adviceConfig},
	"NO_CHANNELS_LEFT":                          {models.ErrorClassConfig, adviceConfig},
	"TEMPLATE_NOT_FOUND":                        {models.ErrorClassConfig, adviceConfig},
	"TEMPLATE_INSUFFICIENT_PARAMETERS":          {models.ErrorClassConfig, adviceConfig},
	"TEMPLATE_NON_EXISTING_LANGUAGE_OR_VERSION": {models.ErrorClassConfig, adviceConfig},
	"UNKNOWN_APP":                               {models.ErrorClassConfig, adviceConfig},
	"NO_CHANNEL_IDENTITY_FOR_CONTACT":           {models.ErrorClassConfig, adviceConfig},
	// Connector defects and unknowns: contact support.
	"RECIPIENT_INVALID_CHANNEL_IDENTITY": {models.ErrorClassSupport, adviceSupport},
	"CHANNEL_FAILURE":                    {models.ErrorClassSupport, "a generic error occurred at the channel level: " + adviceSupport},
	"CONTACT_NOT_FOUND":                  {models.ErrorClassSupport, adviceSupport},
	"BAD_REQUEST":                        {models.ErrorClassSupport, "the request is malformed or invalid: " + adviceSupport},
	"UNSUPPORTED_OPERATION":              {models.ErrorClassSupport, adviceSupport},
	"UNKNOWN":                            {models.ErrorClassSupport, adviceSupport},
	"INTERNAL_ERROR":                     {models.ErrorClassSupport, adviceSupport},
	// Attachments.
	"MEDIA_TYPE_UNSUPPORTED": {models.ErrorClassMedia, "the file type is not supported by WhatsApp; WhatsApp Business supports fewer file types than the standard WhatsApp application (e.g. .DOC and .DOCX are not supported): send a format WhatsApp allows, or use another channel such as email"},
	"MEDIA_TOO_LARGE":        {models.ErrorClassMedia, "the attached file exceeds the size limits of Sinch or WhatsApp (5 MB images, 16 MB video and audio, 100 MB documents): send a smaller file"},
	"MEDIA_NOT_REACHABLE":    {models.ErrorClassMedia, "the attachment could not be retrieved: the file was deleted or renamed on the server, or removed after the interaction; also check that the account's HTTPS proxy URL and token are correctly configured"},
	"ATTACHMENT_REJECTED":    {models.ErrorClassMedia, "the attachment was rejected by WhatsApp (Meta): its file type or content is not permitted by WhatsApp"},
	ReasonSplitRequired:      {models.ErrorClassSupport, "the text message is too long for the channel: reduce its length and try again"},
}

// ClassifyReason classifies a Sinch delivery reason. The sub-code
// ATTACHMENT_REJECTED makes it a media failure whatever the code; unknown
// codes are kept verbatim and treated as support errors.
func ClassifyReason(code, subCode, description string) Failure {
	if code == "" {
		code = "UNKNOWN"
	}
	ra, ok := reasonAdvice[code]
	if subCode == "ATTACHMENT_REJECTED" {
		ra, ok = reasonAdvice[subCode], true
	}
	if !ok {
		ra.class, ra.advice = models.ErrorClassSupport, "unknown Sinch error code: "+adviceSupport
	}
	return Failure{Code: code, Class: ra.class, Message: code + ": " + ra.advice, Description: description}
}

// failureError is the non-retryable activity error of a classified failure;
// the Failure travels as the error's details.
func failureError(f Failure, cause error) error {
	return temporal.NewNonRetryableApplicationError(f.Message, errTypeOfClass[f.Class], cause, f)
}

// FailureOf extracts the Failure of a send activity's error, if it has one.
func FailureOf(err error) (Failure, bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return Failure{}, false
	}
	var f Failure
	if appErr.HasDetails() && appErr.Details(&f) == nil && f.Class != "" {
		return f, true
	}
	return Failure{}, false
}
