package carrier

// The presets are built-in http configurations; only their webhooks and
// credential checks need code of their own.

// twilioCodes: https://www.twilio.com/docs/api/errors. Codes not listed
// follow the HTTP status (a 4xx is Rejected: 21211 invalid To, 21408 region
// not enabled, 21612 unreachable route, 20003 bad credentials, and the
// 300xx delivery failures of status callbacks).
var twilioCodes = Codes{
	Temporary: []string{"20429"},                   // too many requests (HTTP 429)
	OptedOut:  []string{"21610"},                   // recipient replied STOP
	NotMobile: []string{"21614", "21635", "30006"}, // not a mobile number, landline, landline or unreachable carrier
}

// twilioHTTP is the twilio preset: Programmable Messaging, 2010-04-01.
// A From of MG... (through Config.Senders) is a messaging service.
func twilioHTTP(t TwilioConfig) HTTPConfig {
	user, pass := t.AccountSID, t.AuthToken
	if t.APIKeySID != "" {
		user, pass = t.APIKeySID, t.APIKeySecret
	}
	return HTTPConfig{
		Request: RequestConfig{
			Method: "POST",
			URL:    `{{.BaseURL}}/2010-04-01/Accounts/{{pathescape .Vars.account_sid}}/Messages.json`,
			Headers: map[string]string{
				"Content-Type": "application/x-www-form-urlencoded",
				"Accept":       "application/json",
			},
			Body: `To={{urlquery .To}}` +
				`{{if hasPrefix .From "MG"}}&MessagingServiceSid={{urlquery .From}}` +
				`{{else}}&From={{urlquery .From}}{{with .Vars.messaging_service_sid}}&MessagingServiceSid={{urlquery .}}{{end}}{{end}}` +
				`&Body={{urlquery .Body}}` +
				`{{with .StatusURL}}&StatusCallback={{urlquery .}}{{end}}`,
		},
		Check: &RequestConfig{
			Method:  "GET",
			URL:     `{{.BaseURL}}/2010-04-01/Accounts/{{pathescape .Vars.account_sid}}.json`,
			Headers: map[string]string{"Accept": "application/json"},
		},
		Auth: AuthConfig{Type: "basic", Username: user, Password: pass},
		Vars: map[string]string{"account_sid": t.AccountSID, "messaging_service_sid": t.MessagingServiceSID},
		Response: ResponseConfig{
			MessageID:    Extract{JSON: "sid"},
			Segments:     Extract{JSON: "num_segments"},
			ErrorCode:    Extract{JSON: "code"},
			ErrorMessage: Extract{JSON: "message"},
		},
	}
}

// telnyxCodes: https://developers.telnyx.com/docs/messaging/messages/error-codes.
var telnyxCodes = Codes{
	OptedOut:  []string{"40300"}, // blocked due to STOP message
	NotMobile: []string{"40001"}, // not routable: a landline or non-routable number
}

// telnyxHTTP is the telnyx preset: API v2 messages.
func telnyxHTTP(t TelnyxConfig) HTTPConfig {
	check := `{{.BaseURL}}/v2/messaging_profiles?page%5Bsize%5D=1`
	if t.MessagingProfileID != "" {
		check = `{{.BaseURL}}/v2/messaging_profiles/{{pathescape .Vars.messaging_profile_id}}`
	}
	return HTTPConfig{
		Request: RequestConfig{
			Method: "POST",
			URL:    `{{.BaseURL}}/v2/messages`,
			Headers: map[string]string{
				"Content-Type": "application/json",
				"Accept":       "application/json",
			},
			Body: `{"from":{{json .From}},"to":{{json .To}},"text":{{json .Body}}` +
				`{{with .Vars.messaging_profile_id}},"messaging_profile_id":{{json .}}{{end}}` +
				`{{with .StatusURL}},"webhook_url":{{json .}}{{end}}}`,
		},
		Check: &RequestConfig{Method: "GET", URL: check, Headers: map[string]string{"Accept": "application/json"}},
		Auth:  AuthConfig{Type: "bearer", Token: t.APIKey},
		Vars:  map[string]string{"messaging_profile_id": t.MessagingProfileID},
		Response: ResponseConfig{
			MessageID:    Extract{JSON: "data.id"},
			Segments:     Extract{JSON: "data.parts"},
			ErrorCode:    Extract{JSON: "errors.0.code"},
			ErrorMessage: Extract{JSON: "errors.0.detail"},
		},
	}
}

// kannelHTTP is the kannel preset: smsbox's sendsms, GET with the
// sendsms-user's credentials in the query (Kannel takes POST only as
// text/plain with X-Kannel-* headers). GSM-7 texts go as 7-bit, others as
// UCS-2; Kannel splits long texts itself (the sendsms-user's max-messages
// must allow it). Kannel has no message id of its own in the answer: the
// driver's id is the message id, and comes back in the dlr-url.
//
// Kannel answers 202 "0: Accepted for delivery" or "3: Queued for later
// delivery" (both taken), 403 for bad credentials, 400 for a bad request,
// 503 when it cannot queue.
func kannelHTTP(k KannelConfig) HTTPConfig {
	return HTTPConfig{
		Request: RequestConfig{
			Method: "GET",
			URL: `{{.BaseURL}}/cgi-bin/sendsms?username={{urlquery .Vars.username}}&password={{urlquery .Secrets.password}}` +
				`&from={{urlquery .From}}&to={{urlquery .To}}&text={{urlquery .Body}}` +
				`&charset=UTF-8&coding={{if gsm7 .Body}}0{{else}}2{{end}}` +
				`{{with .Vars.smsc}}&smsc={{urlquery .}}{{end}}` +
				`{{with .StatusURL}}&dlr-mask=19&dlr-url={{urlquery .}}{{end}}`,
		},
		// Credentials are checked before the request: with no recipient,
		// good ones give 400 "Missing receiver number", bad ones 403.
		Check: &RequestConfig{
			Method: "GET",
			URL:    `{{.BaseURL}}/cgi-bin/sendsms?username={{urlquery .Vars.username}}&password={{urlquery .Secrets.password}}`,
		},
		Vars:    map[string]string{"username": k.Username, "smsc": k.SMSC},
		Secrets: map[string]string{"password": k.Password},
		Response: ResponseConfig{
			Success: SuccessConfig{Body: Match{Extract: Extract{Regexp: `^\s*([03]):`}}},
		},
	}
}
