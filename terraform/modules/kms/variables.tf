variable "alias" {
  description = "Alias name without the alias/ prefix, e.g. sportsflow-prod-data."
  type        = string
}

variable "description" {
  description = "What the key encrypts."
  type        = string
}

variable "account_id" {
  description = "AWS account id (its root administers the key through IAM)."
  type        = string
}

variable "service_grants" {
  description = "Extra key policy statements for AWS services (principal, actions, conditions)."
  type = list(object({
    sid     = string
    service = string
    actions = list(string)
    conditions = list(object({
      test     = string
      variable = string
      values   = list(string)
    }))
  }))
  default = []
}
