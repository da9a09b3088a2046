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

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:Key policy: Resource "*" is this key; admin is delegated to the account's IAM.
  #checkov:skip=CKV_AWS_111:Key policy: Resource "*" is this key; admin is delegated to the account's IAM.
  #checkov:skip=CKV_AWS_356:Key policy: Resource "*" is this key; admin is delegated to the account's IAM.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsUse"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:aws:logs:${var.aws_region}:${var.account_id}:log-group:*"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
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
}

resource "aws_kms_key" "logs" {
  description             = "${var.name} CloudWatch Logs and alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${var.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.log_groups

  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
}

# --- alarm topic -----------------------------------------------------------------------------

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.logs.arn
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

# --- the original engine's alarms, on the app's EMF metrics ---------------------------------

locals {
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
    consumer-lag = {
      metric      = "ConsumerLag"
      statistic   = "Maximum"
      threshold   = var.consumer_lag_threshold
      dimensions  = {}
      description = "Worker consumer lag above ${var.consumer_lag_threshold} messages."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "app" {
  for_each = local.app_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = local.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- MSK -------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "msk_offline_partitions" {
  alarm_name          = "${var.name}-msk-offline-partitions"
  alarm_description   = "MSK has offline partitions: producers and consumers of them are stuck."
  namespace           = "AWS/Kafka"
  metric_name         = "OfflinePartitionsCount"
  dimensions          = { "Cluster Name" = var.msk_cluster_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "msk_disk" {
  for_each = toset([for i in range(1, var.msk_broker_count + 1) : tostring(i)])

  alarm_name          = "${var.name}-msk-broker-${each.key}-disk"
  alarm_description   = "MSK broker ${each.key} data volume above 80 %."
  namespace           = "AWS/Kafka"
  metric_name         = "KafkaDataLogsDiskUsed"
  dimensions          = { "Cluster Name" = var.msk_cluster_name, "Broker ID" = each.key }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "msk_cpu" {
  for_each = toset([for i in range(1, var.msk_broker_count + 1) : tostring(i)])

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

# --- ECS -------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "ecs_cpu" {
  for_each = toset(var.service_names)

  alarm_name          = "${var.name}-${each.key}-cpu"
  alarm_description   = "${each.key} average CPU above 85 % (autoscaling is at its limit or too slow)."
  namespace           = "AWS/ECS"
  metric_name         = "CPUUtilization"
  dimensions          = { ClusterName = var.ecs_cluster_name, ServiceName = each.key }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 10
  datapoints_to_alarm = 8
  comparison_operator = "GreaterThanThreshold"
  threshold           = 85
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "ecs_memory" {
  for_each = toset(var.service_names)

  alarm_name          = "${var.name}-${each.key}-memory"
  alarm_description   = "${each.key} average memory above 85 %."
  namespace           = "AWS/ECS"
  metric_name         = "MemoryUtilization"
  dimensions          = { ClusterName = var.ecs_cluster_name, ServiceName = each.key }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 10
  datapoints_to_alarm = 8
  comparison_operator = "GreaterThanThreshold"
  threshold           = 85
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "ecs_running_tasks" {
  for_each = toset(var.service_names)

  alarm_name          = "${var.name}-${each.key}-no-running-tasks"
  alarm_description   = "${each.key} has no running task."
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = var.ecs_cluster_name, ServiceName = each.key }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- ALB -------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  alarm_name          = "${var.name}-alb-target-5xx"
  alarm_description   = "Targets answered more than 10 5xx responses a minute."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  dimensions          = { LoadBalancer = var.alb_arn_suffix }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 10
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "alb_unhealthy" {
  for_each = var.target_group_arn_suffix

  alarm_name          = "${var.name}-${each.key}-unhealthy-targets"
  alarm_description   = "${each.key} has unhealthy targets behind the ALB."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# --- dashboard -------------------------------------------------------------------------------

locals {
  # The app metrics on the dashboard (tests/terraform reads this list: each must be emitted).
  dashboard_metrics = [
    { metric = "ErrorRate", title = "Error rate (%)", dimensions = {} },
    { metric = "LatencyMs", title = "End-to-end latency (ms)", dimensions = { Stage = var.latency_stage } },
    { metric = "FailedIngestionRate", title = "Failed ingestion (%)", dimensions = {} },
    { metric = "WebSocketDropRate", title = "WebSocket drops (%)", dimensions = {} },
    { metric = "WebSocketConnections", title = "WebSocket connections (per task avg)", dimensions = {} },
    { metric = "ConsumerLag", title = "Consumer lag (messages)", dimensions = {} },
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
      y      = 12
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
      y      = 12
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
      y      = 18
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
      y      = 18
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
