// Package media handles the files of WhatsApp conversations: what a file is
// (Detect, by content only), whether WhatsApp through Sinch accepts it
// (WhatsAppVerdict, the "Supported attachment" list of Motion's Sinch V2
// guide), how large it may be (CheckOutboundSize, InboundCap: the
// connector's limit, then Sinch's, then WhatsApp's), where its bytes live (Store, FS: content-addressed files
// on disk, outside Temporal histories), how a customer's media URL is fetched
// without reaching private networks (Fetcher), and the signed token in the
// URLs Sinch fetches agents' files from (Signer).
//
// Nothing here trusts a file name or a declared Content-Type: the type is
// always sniffed from the first SniffLen bytes, and names from outside are
// only ever displayed after SafeFilename.
package media
