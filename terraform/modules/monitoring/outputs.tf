output "log_group_names" {
  description = "Log group names by key (service names, msk, vpc_flow, ecs_exec, waf)."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "log_group_arns" {
  description = "Log group ARNs by key."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.arn }
}

output "kms_key_arn" {
  description = "KMS key of the log groups and the alarm topic."
  value       = module.kms.arn
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "metrics_namespace" {
  description = "CloudWatch namespace of the app's EMF metrics."
  value       = local.namespace
}

output "dashboard_name" {
  description = "CloudWatch dashboard name."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
