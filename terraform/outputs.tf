output "msk_bootstrap_brokers_iam" {
  description = "MSK bootstrap brokers for SASL/IAM over TLS (SPORTSFLOW_KAFKA__BOOTSTRAP_SERVERS)."
  value       = module.msk.bootstrap_brokers_sasl_iam
}

output "msk_cluster_arn" {
  description = "MSK cluster ARN."
  value       = module.msk.cluster_arn
}

output "dynamodb_table_name" {
  description = "DynamoDB table (SPORTSFLOW_AWS__DYNAMODB_TABLE)."
  value       = module.storage.table_name
}

output "s3_bucket_name" {
  description = "S3 archive bucket (SPORTSFLOW_AWS__S3_BUCKET)."
  value       = module.storage.bucket_name
}

output "alb_dns_name" {
  description = "Public ALB DNS name: https://<name>/events, wss://<name>/ws."
  value       = module.alb.dns_name
}

output "provider_secret_arns" {
  description = "Secrets Manager ARN of each provider's credentials."
  value       = module.secrets.provider_secret_arns
}

output "provider_secret_names" {
  description = "Secret names to put provider credentials into (aws secretsmanager put-secret-value)."
  value       = module.secrets.provider_secret_names
}

output "app_secret_arns" {
  description = "ARNs of the injected secrets (jwt_secret, ingest_api_key, sentry_dsn)."
  value       = module.secrets.app_secret_arns
}

output "secrets_manager_prefix" {
  description = "SPORTSFLOW_AWS__SECRETS_MANAGER_PREFIX."
  value       = local.secrets_manager_prefix
}

output "log_group_names" {
  description = "CloudWatch log groups by key (services, msk, vpc_flow, ecs_exec, waf)."
  value       = module.monitoring.log_group_names
}

output "alarm_topic_arn" {
  description = "SNS topic of every alarm."
  value       = module.monitoring.alarm_topic_arn
}

output "ecs_cluster_name" {
  description = "ECS cluster name."
  value       = module.ecs.cluster_name
}
