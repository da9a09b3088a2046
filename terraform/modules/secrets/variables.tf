variable "name" {
  description = "Name prefix, sportsflow-<environment>."
  type        = string
}

variable "account_id" {
  description = "AWS account id (key policy)."
  type        = string
}

variable "provider_names" {
  description = "Providers that get an API-key secret each."
  type        = list(string)
}

variable "provider_path" {
  description = "Secret name prefix of the provider secrets; the app reads <prefix><provider> (SPORTSFLOW_AWS__SECRETS_MANAGER_PREFIX)."
  type        = string
}

variable "app_path" {
  description = "Secret name prefix of the secrets ECS injects as environment variables."
  type        = string
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 30
}
