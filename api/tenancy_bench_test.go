package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/xcally-connector/connector/api"
	"github.com/xcally-connector/connector/models"
	"github.com/xcally-connector/connector/models/testdb"
)

// BenchmarkInteractionList measures what the tenancy scope costs on the
// agents' busiest read, GET /api/interactions?status=open&limit=50, on a
// database of 4 accounts × 1,000 open interactions: an agent permitted on
// and enabled for one of them (scoped by models.ReachableAccountIDs)
// against the admin (no scope) as the baseline of the same run. The agent's token lookup is part of its cost.
// scope-query/before and /after time the scoped query alone with the scope
// before this change (every link of the agent) and after it (permitted
// and enabled), which select the same rows here: the cost of the tenancy
// rule itself.
//
//	go test ./api/ -run '^$' -bench BenchmarkInteractionList -benchtime 2000x -count 5
func BenchmarkInteractionList(b *testing.B) {
	for _, engine := range testdb.Engines(b) {
		b.Run(string(engine), func(b *testing.B) {
			db := testdb.Open(b, engine)
			e := api.New(api.Deps{DB: db, Temporal: &fakeTemporal{}, AdminToken: adminToken, TaskQueue: "q"})
			token := "agt_bench-token"
			agent := models.Agent{Name: "Ann", Capacity: 100, TokenHash: sha256Hex(token)}
			if err := db.Create(&agent).Error; err != nil {
				b.Fatal(err)
			}
			for a := 1; a <= 4; a++ {
				acc := models.Account{Name: fmt.Sprint("Tenant ", a), Key: fmt.Sprint("t", a), PublicURL: "https://motion.example.com",
					Type: models.AccountTypeSinchV2, Region: models.RegionEU, ProjectID: "p", AppID: fmt.Sprint("app-", a), KeyID: "k",
					Phone: "+390612345678", Channels: "WHATSAPP"}
				if err := db.Create(&acc).Error; err != nil {
					b.Fatal(err)
				}
				if a == 1 {
					link := models.AgentAccount{AgentID: agent.ID, AccountID: acc.ID, Enabled: true}
					if err := db.Omit("Agent", "Account").Create(&link).Error; err != nil {
						b.Fatal(err)
					}
				}
				contacts := make([]models.Contact, 1000)
				for i := range contacts {
					contacts[i] = models.Contact{AccountID: acc.ID, Channel: models.ChannelWhatsApp, Identity: fmt.Sprintf("39%d%08d", a, i)}
				}
				if err := db.CreateInBatches(contacts, 200).Error; err != nil {
					b.Fatal(err)
				}
				inters := make([]models.Interaction, len(contacts))
				for i, c := range contacts {
					wf := fmt.Sprintf("conversation/%d/WHATSAPP/%s", acc.ID, c.Identity)
					inters[i] = models.Interaction{Key: wf + "#1", WorkflowID: wf, AccountID: acc.ID, ContactID: c.ID,
						Channel: models.ChannelWhatsApp, Status: models.InteractionQueued, OpenedAt: time.Now()}
				}
				if err := db.CreateInBatches(inters, 200).Error; err != nil {
					b.Fatal(err)
				}
			}
			// The scope's own query, before this change (every agent_accounts
			// link of the agent) and after it (permitted and enabled).
			scopes := map[string]func() *gorm.DB{
				"before": func() *gorm.DB {
					return db.Model(&models.AgentAccount{}).Select("account_id").Where("agent_id = ?", agent.ID)
				},
				"after": func() *gorm.DB { return models.ReachableAccountIDs(db, agent.ID) },
			}
			for _, name := range []string{"before", "after"} {
				b.Run("scope-query/"+name, func(b *testing.B) {
					for b.Loop() {
						var rows []models.Interaction
						err := db.Model(&models.Interaction{}).Where("interactions.account_id IN (?)", scopes[name]()).
							Where("interactions.status <> ?", models.InteractionClosed).Order("interactions.id DESC").Limit(51).Find(&rows).Error
						if err != nil || len(rows) == 0 {
							b.Fatal(err, len(rows))
						}
					}
				})
			}
			for _, who := range []struct{ name, token string }{{"admin", adminToken}, {"agent", token}} {
				b.Run(who.name, func(b *testing.B) {
					hdr := map[string]string{"Authorization": "Bearer " + who.token}
					for b.Loop() {
						rec := do(e, http.MethodGet, "/api/interactions?status=open&limit=50", "", hdr)
						if rec.Code != http.StatusOK {
							b.Fatalf("%d %s", rec.Code, rec.Body.String())
						}
					}
				})
			}
		})
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
