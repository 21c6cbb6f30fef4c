package source

// GHLEventTypes are the webhook event types GoHighLevel documents, by the
// value of their "type" field. A flow chooses among them with `types:`.
var GHLEventTypes = []string{
	// App
	"INSTALL", "UNINSTALL", "PLAN_CHANGE",
	// Contacts
	"ContactCreate", "ContactUpdate", "ContactDelete", "ContactTagUpdate", "ContactDndUpdate",
	// Notes and tasks
	"NoteCreate", "NoteUpdate", "NoteDelete",
	"TaskCreate", "TaskComplete", "TaskDelete",
	// Appointments
	"AppointmentCreate", "AppointmentUpdate", "AppointmentDelete",
	// Opportunities
	"OpportunityCreate", "OpportunityUpdate", "OpportunityDelete",
	"OpportunityStageUpdate", "OpportunityStatusUpdate",
	"OpportunityMonetaryValueUpdate", "OpportunityAssignedToUpdate",
	// Conversations
	"InboundMessage", "OutboundMessage", "ProviderOutboundMessage",
	"ConversationUnreadUpdate", "LCEmailStats",
	// Campaigns, locations, users
	"CampaignStatusUpdate", "LocationCreate", "LocationUpdate", "UserCreate",
	// Associations, relations, custom objects
	"AssociationCreate", "AssociationUpdate", "AssociationDelete",
	"RelationCreate", "RelationDelete",
	"RecordCreate", "RecordUpdate", "RecordDelete",
	"ObjectSchemaCreate", "ObjectSchemaUpdate",
	// Payments and products
	"InvoiceCreate", "InvoiceUpdate", "InvoiceDelete", "InvoiceSent",
	"InvoicePaid", "InvoicePartiallyPaid", "InvoiceVoid",
	"OrderCreate", "OrderStatusUpdate",
	"ProductCreate", "ProductUpdate", "ProductDelete",
	"PriceCreate", "PriceUpdate", "PriceDelete",
}

// providerMessageTypes are the "type" values of a ProviderOutboundMessage
// delivery, whose "type" field names the channel rather than the event.
var providerMessageTypes = map[string]bool{"SMS": true, "Email": true}

// GHLRSAPublicKey is the RSA-4096 public key GoHighLevel publishes for
// verifying the legacy x-wh-signature header (RSA PKCS#1 v1.5, SHA-256).
// It is the default of rsa_public_keys; the value "default" names it in a
// list during a key rotation.
const GHLRSAPublicKey = `-----BEGIN PUBLIC KEY-----
MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAokvo/r9tVgcfZ5DysOSC
Frm602qYV0MaAiNnX9O8KxMbiyRKWeL9JpCpVpt4XHIcBOK4u3cLSqJGOLaPuXw6
dO0t6Q/ZVdAV5Phz+ZtzPL16iCGeK9po6D6JHBpbi989mmzMryUnQJezlYJ3DVfB
csedpinheNnyYeFXolrJvcsjDtfAeRx5ByHQmTnSdFUzuAnC9/GepgLT9SM4nCpv
uxmZMxrJt5Rw+VUaQ9B8JSvbMPpez4peKaJPZHBbU3OdeCVx5klVXXZQGNHOs8gF
3kvoV5rTnXV0IknLBXlcKKAQLZcY/Q9rG6Ifi9c+5vqlvHPCUJFT5XUGG5RKgOKU
J062fRtN+rLYZUV+BjafxQauvC8wSWeYja63VSUruvmNj8xkx2zE/Juc+yjLjTXp
IocmaiFeAO6fUtNjDeFVkhf5LNb59vECyrHD2SQIrhgXpO4Q3dVNA5rw576PwTzN
h/AMfHKIjE4xQA1SZuYJmNnmVZLIZBlQAF9Ntd03rfadZ+yDiOXCCs9FkHibELhC
HULgCsnuDJHcrGNd5/Ddm5hxGQ0ASitgHeMZ0kcIOwKDOzOU53lDza6/Y09T7sYJ
PQe7z0cvj7aE4B+Ax1ZoZGPzpJlZtGXCsu9aTEGEnKzmsFqwcSsnw3JB31IGKAyk
T1hhTiaCeIY/OwwwNUY2yvcCAwEAAQ==
-----END PUBLIC KEY-----
`
