# Log groups (KMS, retention), the alarm topic, the alarms of the original engine on the app's
# Embedded Metric Format metrics (namespace Sportsflow), MSK/ECS/ALB basics and a dashboard.
#
# Metric contract (the app writes EMF JSON lines to stdout; the awslogs driver ships them and
# CloudWatch Logs extracts the metrics). Rates are percentages (0-100):
#   ErrorRate            %  records that failed processing / records processed
#   LatencyMs            ms dimension Stage (the alarm watches Stage=end_to_end: source -> delivery)
#   FailedIngestionRate  %  provider fetches or /ingest posts that failed
#   WebSocketDropRate    %  WebSocket connections dropped abnormally / connections
#   WebSocketConnections    open WebSocket connections of one broadcaster task
#   ConsumerLag             messages behind on the worker's input topics

locals {
  namespace = "Sportsflow"

  log_groups = merge(
    { for s in var.service_names : s => "/sportsflow/${var.environment}/ecs/${s}" },
    {
      msk      = "/sportsflow/${var.environment}/msk/brokers"
      vpc_flow = "/sportsflow/${var.environment}/vpc/flow-logs"
      ecs_exec = "/sportsflow/${var.environment}/ecs/exec"
      # WAF only logs to groups whose name starts with aws-waf-logs-.
      waf = "aws-waf-logs-sportsflow-${var.environment}"
    },
  )

  alarm_actions = [aws_sns_topic.alarms.arn]
}

# --- KMS key for logs and the alarm topic ----------------------------------------------------

module "kms" {
  source = "../kms"

  alias       = "${var.name}-logs"
  description = "${var.name} CloudWatch Logs and alarm topic"
  account_id  = var.account_id

  service_grants = [
    {
      sid     = "CloudWatchLogsUse"
      service = "logs.${var.aws_region}.amazonaws.com"
      actions = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      conditions = [{
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:aws:logs:${var.aws_region}:${var.account_id}:log-group:*"]
      }]
    },
    {
      sid     = "CloudWatchAlarmsPublishToEncryptedTopic"
      service = "cloudwatch.amazonaws.com"
      actions = ["kms:Decrypt", "kms:GenerateDataKey*"]
      conditions = [{
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [var.account_id]
      }]
    },
  ]
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.log_groups

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = module.kms.arn
}

# --- alarm topic -----------------------------------------------------------------------------

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = module.kms.arn
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- alarms ----------------------------------------------------------------------------------
#
# Every single-metric alarm is a row of one table; one resource makes them all. Defaults: 1-minute
# periods, alarm on 3 of 5, "greater than", missing data is not breaching.

locals {
  # The original engine's alarms, on the app's EMF metrics (docs/operations.md: what to do).
  app_alarms = {
    error-rate = {
      metric      = "ErrorRate"
      statistic   = "Average"
      threshold   = 1
      dimensions  = {}
      description = "Error rate above 1 % (original engine alert)."
    }
    latency = {
      metric      = "LatencyMs"
      statistic   = "Average"
      threshold   = 100
      dimensions  = { Stage = var.latency_stage }
      description = "Average end-to-end latency above 100 ms (original engine alert)."
    }
    failed-ingestion = {
      metric      = "FailedIngestionRate"
      statistic   = "Average"
      threshold   = 0.01
      dimensions  = {}
      description = "Failed data ingestion above 0.01 % (original engine alert)."
    }
    websocket-drops = {
      metric      = "WebSocketDropRate"
      statistic   = "Average"
      threshold   = 5
      dimensions  = {}
      description = "WebSocket connection drops above 5 % (original engine alert)."
    }
    feeds-down = {
      metric      = "FeedsDown"
      statistic   = "Maximum"
      threshold   = 0
      dimensions  = {}
      description = "A provider feed is down (silent, failing or slow): its data is stale or missing."
    }
    consumer-lag = {
      metric      = "ConsumerLag"
      statistic   = "Maximum"
      threshold   = var.consumer_lag_threshold
      dimensions  = {}
      description = "Worker consumer lag above ${var.consumer_lag_threshold} messages."
    }
  }

  brokers = [for i in range(1, var.msk_broker_count + 1) : tostring(i)]

  alarms = merge(
    { for k, a in local.app_alarms : k => merge(a, { namespace = local.namespace }) },
    {
      msk-offline-partitions = {
        namespace   = "AWS/Kafka"
        metric      = "OfflinePartitionsCount"
        dimensions  = { "Cluster Name" = var.msk_cluster_name }
        statistic   = "Maximum"
        threshold   = 0
        evaluation  = [3, 3]
        description = "MSK has offline partitions: producers and consumers of them are stuck."
      }
      alb-target-5xx = {
        namespace   = "AWS/ApplicationELB"
        metric      = "HTTPCode_Target_5XX_Count"
        dimensions  = { LoadBalancer = var.alb_arn_suffix }
        statistic   = "Sum"
        threshold   = 10
        description = "Targets answered more than 10 5xx responses a minute."
      }
    },
    { for b in local.brokers : "msk-broker-${b}-disk" => {
      namespace   = "AWS/Kafka"
      metric      = "KafkaDataLogsDiskUsed"
      dimensions  = { "Cluster Name" = var.msk_cluster_name, "Broker ID" = b }
      statistic   = "Maximum"
      threshold   = 80
      period      = 300
      evaluation  = [2, 2]
      description = "MSK broker ${b} data volume above 80 %."
    } },
    { for s in var.service_names : "${s}-cpu" => {
      namespace   = "AWS/ECS"
      metric      = "CPUUtilization"
      dimensions  = { ClusterName = var.ecs_cluster_name, ServiceName = s }
      statistic   = "Average"
      threshold   = 85
      evaluation  = [10, 8]
      description = "${s} average CPU above 85 % (autoscaling is at its limit or too slow)."
    } },
    { for s in var.service_names : "${s}-memory" => {
      namespace   = "AWS/ECS"
      metric      = "MemoryUtilization"
      dimensions  = { ClusterName = var.ecs_cluster_name, ServiceName = s }
      statistic   = "Average"
      threshold   = 85
      evaluation  = [10, 8]
      description = "${s} average memory above 85 %."
    } },
    { for s in var.service_names : "${s}-no-running-tasks" => {
      namespace   = "ECS/ContainerInsights"
      metric      = "RunningTaskCount"
      dimensions  = { ClusterName = var.ecs_cluster_name, ServiceName = s }
      statistic   = "Minimum"
      threshold   = 1
      comparison  = "LessThanThreshold"
      missing     = "breaching"
      evaluation  = [3, 3]
      description = "${s} has no running task."
    } },
    { for s, tg in var.target_group_arn_suffix : "${s}-unhealthy-targets" => {
      namespace   = "AWS/ApplicationELB"
      metric      = "UnHealthyHostCount"
      dimensions  = { LoadBalancer = var.alb_arn_suffix, TargetGroup = tg }
      statistic   = "Maximum"
      threshold   = 0
      description = "${s} has unhealthy targets behind the ALB."
    } },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = lookup(each.value, "period", 60)
  evaluation_periods  = lookup(each.value, "evaluation", [5, 3])[0]
  datapoints_to_alarm = lookup(each.value, "evaluation", [5, 3])[1]
  comparison_operator = lookup(each.value, "comparison", "GreaterThanThreshold")
  threshold           = each.value.threshold
  treat_missing_data  = lookup(each.value, "missing", "notBreaching")
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# MSK broker CPU is user + system: a metric-math alarm, not a table row.
resource "aws_cloudwatch_metric_alarm" "msk_cpu" {
  for_each = toset(local.brokers)

  alarm_name          = "${var.name}-msk-broker-${each.key}-cpu"
  alarm_description   = "MSK broker ${each.key} CPU (user + system) above 60 %, AWS's headroom guidance."
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 60
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "cpu"
    expression  = "user + system"
    label       = "CPU %"
    return_data = true
  }

  metric_query {
    id = "user"
    metric {
      namespace   = "AWS/Kafka"
      metric_name = "CpuUser"
      dimensions  = { "Cluster Name" = var.msk_cluster_name, "Broker ID" = each.key }
      stat        = "Average"
      period      = 300
    }
  }

  metric_query {
    id = "system"
    metric {
      namespace   = "AWS/Kafka"
      metric_name = "CpuSystem"
      dimensions  = { "Cluster Name" = var.msk_cluster_name, "Broker ID" = each.key }
      stat        = "Average"
      period      = 300
    }
  }
}

# --- dashboard -------------------------------------------------------------------------------

locals {
  # The app metrics on the dashboard (tests/terraform reads this list: each must be emitted).
  # Three per row; the infrastructure widgets start below the last row (y = 18).
  dashboard_metrics = [
    { metric = "ErrorRate", title = "Error rate (%)", dimensions = {} },
    { metric = "LatencyMs", title = "End-to-end latency (ms)", dimensions = { Stage = var.latency_stage } },
    { metric = "FailedIngestionRate", title = "Failed ingestion (%)", dimensions = {} },
    { metric = "WebSocketDropRate", title = "WebSocket drops (%)", dimensions = {} },
    { metric = "WebSocketConnections", title = "WebSocket connections (per task avg)", dimensions = {} },
    { metric = "ConsumerLag", title = "Consumer lag (messages)", dimensions = {} },
    { metric = "FeedsDown", title = "Provider feeds down (per connectors task)", dimensions = {} },
  ]

  app_widgets = [
    for i, m in local.dashboard_metrics : {
      type   = "metric"
      x      = (i % 3) * 8
      y      = floor(i / 3) * 6
      width  = 8
      height = 6
      properties = {
        title   = m.title
        region  = var.aws_region
        view    = "timeSeries"
        stat    = "Average"
        period  = 60
        metrics = [concat([local.namespace, m.metric], flatten([for k, v in m.dimensions : [k, v]]))]
      }
    }
  ]

  infra_widgets = [
    {
      type   = "metric"
      x      = 0
      y      = 18
      width  = 12
      height = 6
      properties = {
        title   = "ECS CPU by service (%)"
        region  = var.aws_region
        view    = "timeSeries"
        stat    = "Average"
        period  = 60
        metrics = [for s in var.service_names : ["AWS/ECS", "CPUUtilization", "ClusterName", var.ecs_cluster_name, "ServiceName", s]]
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 18
      width  = 12
      height = 6
      properties = {
        title   = "Running tasks by service"
        region  = var.aws_region
        view    = "timeSeries"
        stat    = "Average"
        period  = 60
        metrics = [for s in var.service_names : ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", var.ecs_cluster_name, "ServiceName", s]]
      }
    },
    {
      type   = "metric"
      x      = 0
      y      = 24
      width  = 12
      height = 6
      properties = {
        title  = "ALB requests and target 5xx"
        region = var.aws_region
        view   = "timeSeries"
        stat   = "Sum"
        period = 60
        metrics = [
          ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix],
          ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
        ]
      }
    },
    {
      type   = "metric"
      x      = 12
      y      = 24
      width  = 12
      height = 6
      properties = {
        title   = "MSK disk used by broker (%)"
        region  = var.aws_region
        view    = "timeSeries"
        stat    = "Maximum"
        period  = 300
        metrics = [for i in range(1, var.msk_broker_count + 1) : ["AWS/Kafka", "KafkaDataLogsDiskUsed", "Cluster Name", var.msk_cluster_name, "Broker ID", tostring(i)]]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = concat(local.app_widgets, local.infra_widgets) })
}
