# One secret per provider (values put by an operator: the keys are issued by the providers) and
# the app secrets ECS injects: the broadcaster's JWT key and the /ingest API key (generated here,
# never stored in state: ephemeral values through write-only arguments) and the Sentry DSN (put
# by an operator). One customer-managed KMS key for all of them.
#
# Provider secret value: a JSON object with the provider's credential fields, e.g.
#   {"api_key": "..."}  or  {"client_id": "...", "client_secret": "..."}
# Automatic rotation is not configured (checkov CKV2_AWS_57 skipped, reason in README.md).

module "kms" {
  source = "../kms"

  alias       = "${var.name}-secrets"
  description = "${var.name} Secrets Manager secrets"
  account_id  = var.account_id
}

resource "aws_secretsmanager_secret" "provider" {
  #checkov:skip=CKV2_AWS_57:Provider API keys are issued by third parties; no Lambda can rotate them. Rotated by hand (README.md).
  for_each = toset(var.provider_names)

  name                    = "${var.provider_path}${each.key}"
  description             = "Sportsflow ${each.key} API credentials (JSON)."
  kms_key_id              = module.kms.arn
  recovery_window_in_days = var.recovery_window_days
}

locals {
  app_secrets = {
    jwt_secret     = "HS256 key for client JWTs (SPORTSFLOW_BROADCASTER__JWT_SECRET)."
    ingest_api_key = "POST /ingest API key (SPORTSFLOW_API__INGEST_API_KEY)."
    sentry_dsn     = "Sentry DSN (SPORTSFLOW_SENTRY_DSN); put by an operator."
  }
  generated = toset(["jwt_secret", "ingest_api_key"])
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:JWT and ingest keys are rolled by hand (rotating them invalidates every client token and poster at once); the Sentry DSN is issued by Sentry. README.md.
  for_each = local.app_secrets

  name                    = "${var.app_path}${replace(each.key, "_", "-")}"
  description             = each.value
  kms_key_id              = module.kms.arn
  recovery_window_in_days = var.recovery_window_days
}

ephemeral "random_password" "app" {
  for_each = local.generated

  length  = 64
  special = false
}

resource "aws_secretsmanager_secret_version" "generated" {
  for_each = local.generated

  secret_id                = aws_secretsmanager_secret.app[each.key].id
  secret_string_wo         = ephemeral.random_password.app[each.key].result
  secret_string_wo_version = 1
}
