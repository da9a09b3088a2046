output "provider_secret_arns" {
  description = "Provider secret ARNs by provider."
  value       = { for p, s in aws_secretsmanager_secret.provider : p => s.arn }
}

output "provider_secret_names" {
  description = "Provider secret names by provider."
  value       = { for p, s in aws_secretsmanager_secret.provider : p => s.name }
}

output "app_secret_arns" {
  description = "ARNs of jwt_secret, ingest_api_key and sentry_dsn."
  value       = { for k, s in aws_secretsmanager_secret.app : k => s.arn }
}

output "kms_key_arn" {
  description = "KMS key of every secret."
  value       = module.kms.arn
}
