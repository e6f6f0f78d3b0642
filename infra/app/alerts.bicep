// Alert rules over what the app reports to Application Insights (docs/operations.md, "Alerts"):
// log search rules on the metrics of the meter `voicea2a` (customMetrics) and on the app's JSON
// log lines (traces, `message` is one JSON object with an `event` field). Each rule reads one
// signal the code emits; tests/infra/test_alerts.py checks the names against the code.
// With an e-mail address the rules notify one action group; without one there is no action
// group and the rules still fire (visible in the portal under Alerts), with no action.

param namePrefix string
param location string
param tags object

@description('Application Insights component the rules query (its name, in this resource group).')
param applicationInsightsName string

@description('Who gets the alert e-mails; empty: no action group, the rules fire without actions.')
param alertEmailAddress string = ''

@description('Percent of delegations whose orchestration failed, over 15 minutes, above which to alert.')
@minValue(1)
@maxValue(100)
param delegationFailurePercent int = 5

// VOICE_SYNC_WAIT_SECONDS (8 s by default): past it the caller hears the interim sentence.
@description('p95 of delegation latency in ms, over 15 minutes, above which to alert.')
@minValue(1000)
param delegationP95Ms int = 8000

@description('Minutes an agent must stay unhealthy before the alert fires.')
@minValue(1)
@maxValue(9)
param agentUnhealthyMinutes int = 5

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var notify = !empty(alertEmailAddress)

// Action groups are global resources; the short name (at most 12 characters) is what an SMS or
// e-mail subject shows.
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notify) {
  name: '${namePrefix}-ops'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'voicea2a'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = {
  actionGroups: notify ? [
    actionGroup.id
  ] : []
}

// Metrics are exported pre-aggregated and never sampled: counts from customMetrics are exact.
// `failed` is an orchestration that failed as a whole; `partial` answers (an agent failed or timed
// out) are the agent alert's business, not this one's.
var delegationFailuresQuery = '''
customMetrics
| where name == "delegation.duration"
| extend outcome = tostring(customDimensions.outcome)
| summarize delegations = sum(valueCount), failed = sumif(valueCount, outcome == "failed")
| where delegations > 0
| project failurePercent = 100.0 * failed / delegations, failed, delegations
'''

// Percentiles need the single durations: the `delegation.finished` lines carry them (the metric
// holds sums and maxima only). A turn whose agent asked a supervisor counts like any other: its
// line is written when the answer goes out; the supervisor's wait comes after, as a follow-up.
var delegationLatencyQuery = '''
traces
| where timestamp > ago(15m)
| extend j = parse_json(message)
| where tostring(j.event) == "delegation.finished"
| where tostring(j.outcome) in ("completed", "partial")
| summarize p95Ms = percentile(todouble(j.durationMs), 95), delegations = sum(itemCount)
| where delegations > 0
'''

// The health job logs one `agent.health` line per agent and probe. An agent's unhealthy streak is
// its unhealthy lines after its last healthy one; the rule measures how long that streak has
// lasted, per agent (one alert each).
var agentUnhealthyQuery = '''
let lines = traces
    | extend j = parse_json(message)
    | where tostring(j.event) == "agent.health"
    | project timestamp, agent = tostring(j.agent), healthy = tostring(j.status) == "healthy";
let lastHealthy = lines
    | where healthy
    | summarize lastHealthy = max(timestamp) by agent;
lines
| where not(healthy)
| join kind=leftouter lastHealthy on agent
| where isnull(lastHealthy) or timestamp > lastHealthy
| summarize unhealthyMinutes = (max(timestamp) - min(timestamp)) / 1m by agent
'''

// A dropped event costs the browser its live timeline (answers still arrive by HTTP). One bad
// 5-minute window can be a blip; three in a row (the whole 15-minute look-back) is an outage.
var publishFailuresQuery = '''
customMetrics
| where name == "events.failed"
| summarize failed = sum(valueSum) by slot = bin_at(timestamp, 5m, now())
| summarize failingWindows = countif(failed > 0), failed = sum(failed)
'''

resource delegationFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-delegation-failures'
  location: location
  tags: tags
  properties: {
    displayName: 'Voice A2A: delegations failing'
    description: 'More than ${delegationFailurePercent}% of delegations failed over 15 minutes (delegation.duration, outcome failed): a deployment, the task hub or storage is broken.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: delegationFailuresQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'failurePercent'
          operator: 'GreaterThan'
          threshold: delegationFailurePercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

resource delegationLatency 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-delegation-latency'
  location: location
  tags: tags
  properties: {
    displayName: 'Voice A2A: slow voice answers'
    description: 'p95 of delegation latency above ${delegationP95Ms} ms over 15 minutes (delegation.finished): callers hear the interim sentence instead of the answer.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: delegationLatencyQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'p95Ms'
          operator: 'GreaterThan'
          threshold: delegationP95Ms
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

resource agentUnhealthy 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-agent-unhealthy'
  location: location
  tags: tags
  properties: {
    displayName: 'Voice A2A: an agent unhealthy'
    description: 'An agent has been unhealthy (not planned) for ${agentUnhealthyMinutes} minutes (agent.health lines): answers that need it are partial.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: agentUnhealthyQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'unhealthyMinutes'
          dimensions: [
            {
              name: 'agent'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThanOrEqual'
          threshold: agentUnhealthyMinutes
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

resource publishFailures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-publish-failures'
  location: location
  tags: tags
  properties: {
    displayName: 'Voice A2A: live events not published'
    description: 'Web PubSub dropped events in each of the last three 5-minute windows (events.failed): browsers miss their live timeline.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: publishFailuresQuery
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'failingWindows'
          operator: 'GreaterThanOrEqual'
          threshold: 3
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

output actionGroupId string = notify ? actionGroup.id : ''
output alertRuleNames array = [
  delegationFailures.name
  delegationLatency.name
  agentUnhealthy.name
  publishFailures.name
]
