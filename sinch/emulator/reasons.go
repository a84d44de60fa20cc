package emulator

import "github.com/xcally-connector/connector/sinch"

// Reason codes the emulator produces itself.
const (
	ReasonMediaNotReachable    = "MEDIA_NOT_REACHABLE"
	ReasonMediaTooLarge        = "MEDIA_TOO_LARGE"
	ReasonMediaTypeUnsupported = "MEDIA_TYPE_UNSUPPORTED"
	ReasonChannelFailure       = "CHANNEL_FAILURE"
	ReasonBadRequest           = "BAD_REQUEST"
)

// reasonDescriptions holds every Conversation API reason code (Sinch's
// callbacks documentation and SDK enums; the error list of Motion's Sinch V2
// guide) with a description in Sinch's style.
var reasonDescriptions = map[string]string{
	"UNKNOWN":                                   "An unknown error occurred.",
	"INTERNAL_ERROR":                            "An internal error occurred in the Conversation API.",
	"RATE_LIMITED":                              "The underlying channel reported: rate limit hit.",
	"RECIPIENT_INVALID_CHANNEL_IDENTITY":        "The channel identity of the recipient is malformed.",
	"RECIPIENT_NOT_OPTED_IN":                    "The recipient has not opted in to receive messages.",
	"RECIPIENT_NOT_REACHABLE":                   "The underlying channel reported: the recipient cannot be reached.",
	"OUTSIDE_ALLOWED_SENDING_WINDOW":            "The underlying channel reported: Message failed to send because more than 24 hours have passed since the customer last replied to this number",
	"CHANNEL_FAILURE":                           "The underlying channel did not accept the message.",
	"CHANNEL_BAD_CONFIGURATION":                 "The channel is badly configured on the app.",
	"CHANNEL_CONFIGURATION_MISSING":             "The channel is not configured on the app.",
	"CHANNEL_REJECT":                            "The underlying channel rejected the message.",
	"MEDIA_TYPE_UNSUPPORTED":                    "The media type is not supported by the channel.",
	"MEDIA_TOO_LARGE":                           "The media file is larger than the channel accepts.",
	"MEDIA_NOT_REACHABLE":                       "The media URL could not be fetched.",
	"TEMPLATE_NOT_FOUND":                        "The template was not found.",
	"TEMPLATE_INSUFFICIENT_PARAMETERS":          "The template was given too few parameters.",
	"TEMPLATE_NON_EXISTING_LANGUAGE_OR_VERSION": "The template has no such language or version.",
	"DELIVERY_TIMED_OUT":                        "The underlying channel timed out.",
	"DELIVERY_REJECTED_DUE_TO_POLICY":           "The message was rejected due to a channel policy.",
	"NO_CHANNELS_LEFT":                          "No channels are left to try.",
	"CONTACT_NOT_FOUND":                         "The contact was not found.",
	"NO_CHANNEL_IDENTITY_FOR_CONTACT":           "The contact has no identity on the channel.",
	"UNKNOWN_APP":                               "The app was not found.",
	"BAD_REQUEST":                               "The request failed the channel-specific validation.",
	"NO_PERMISSION":                             "The app has no permission for this operation.",
	"NO_PROFILE_AVAILABLE":                      "The profile of the recipient is not available.",
	"UNSUPPORTED_OPERATION":                     "The operation is not supported by the channel.",
	"INACTIVE_CREDENTIAL":                       "The channel credentials are inactive.",
	"MESSAGE_EXPIRED":                           "The message expired before it could be delivered.",
	"MESSAGE_SPLIT_REQUIRED":                    "The message is too long for the channel and must be split.",
	"DELIVERY_REPORT_TIME_OUT":                  "No delivery report arrived in time.",
}

// whatsAppChannelCodes are Meta error codes forwarded as channel_code on
// WhatsApp (131047 in Sinch's callbacks example, 130429 Meta's throughput
// error; 131026 is Meta's "message undeliverable", an assumption).
var whatsAppChannelCodes = map[string]string{
	"OUTSIDE_ALLOWED_SENDING_WINDOW": "131047",
	"RATE_LIMITED":                   "130429",
	"RECIPIENT_NOT_REACHABLE":        "131026",
}

// reasonFor builds the reason of a FAILED report.
func reasonFor(code, channel string) *sinch.Reason {
	r := &sinch.Reason{Code: code, Description: reasonDescriptions[code], SubCode: "UNSPECIFIED_SUB_CODE"}
	if channel == ChannelWhatsApp {
		r.ChannelCode = whatsAppChannelCodes[code]
	}
	return r
}
