# One customer-managed KMS key: yearly rotation, 30-day deletion window, an alias, and a key policy
# that delegates administration to the account's IAM plus the service grants the caller names.
# Every module that encrypts something (logs and alarms, data, secrets, MSK) makes its key here.

data "aws_iam_policy_document" "this" {
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

  dynamic "statement" {
    for_each = var.service_grants
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = [statement.value.service]
      }
      dynamic "condition" {
        for_each = statement.value.conditions
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.this.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias}"
  target_key_id = aws_kms_key.this.key_id
}
