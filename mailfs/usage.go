package mailfs

import "github.com/hubfs/hubfs/mailbox"

// usageJSON is GetUsage as .hubfs/usage shows it, with the billing protos'
// field names, so scripts see the names the hub's documentation uses.
type usageJSON struct {
	Customer *customerJSON       `json:"customer,omitempty"`
	Usage    map[string]usageRow `json:"usage"`
}

type customerJSON struct {
	Key                string              `json:"key"`
	CustomerID         string              `json:"customer_id"`
	ParentKey          string              `json:"parent_key"`
	Email              string              `json:"email"`
	AccountType        int32               `json:"account_type"`
	AccountStatus      string              `json:"account_status"`
	SubscriptionStatus string              `json:"subscription_status"`
	Balance            int64               `json:"balance"`
	Billable           bool                `json:"billable"`
	Delinquent         bool                `json:"delinquent"`
	CreatedAt          int64               `json:"created_at"`
	GracePeriodEnd     int64               `json:"grace_period_end"`
	InvoicePeriod      periodJSON          `json:"invoice_period"`
	DailyUsage         map[string]usageRow `json:"daily_usage"`
	Dependents         int64               `json:"dependents"`
}

type periodJSON struct {
	UnixStart int64 `json:"unix_start"`
	UnixEnd   int64 `json:"unix_end"`
}

type usageRow struct {
	Description string     `json:"description"`
	Units       int64      `json:"units"`
	Total       int64      `json:"total"`
	Free        int64      `json:"free"`
	Grace       int64      `json:"grace"`
	Cost        float64    `json:"cost"`
	Period      periodJSON `json:"period"`
}

func usageRows(in map[string]mailbox.Use) map[string]usageRow {
	out := make(map[string]usageRow, len(in))
	for k, u := range in {
		out[k] = usageRow{u.Description, u.Units, u.Total, u.Free, u.Grace, u.Cost, periodJSON{u.Period.UnixStart, u.Period.UnixEnd}}
	}
	return out
}

func toUsageJSON(u mailbox.Usage) usageJSON {
	out := usageJSON{Usage: usageRows(u.Usage)}
	if c := u.Customer; c != nil {
		out.Customer = &customerJSON{
			Key: c.Key, CustomerID: c.CustomerID, ParentKey: c.ParentKey, Email: c.Email,
			AccountType: c.AccountType, AccountStatus: c.AccountStatus, SubscriptionStatus: c.SubscriptionStatus,
			Balance: c.Balance, Billable: c.Billable, Delinquent: c.Delinquent, CreatedAt: c.CreatedAt,
			GracePeriodEnd: c.GracePeriodEnd, InvoicePeriod: periodJSON{c.InvoicePeriod.UnixStart, c.InvoicePeriod.UnixEnd},
			DailyUsage: usageRows(c.DailyUsage), Dependents: c.Dependents,
		}
	}
	return out
}
