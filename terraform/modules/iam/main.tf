# Least-privilege roles: one execution role (pull the image, write container logs, read the
# injected secrets) and one task role per service, each allowed only what local.kafka_access and
# local.data_access in the root module grant it:
#   kafka-cluster:*   on the cluster ARN and the topic/group ARNs derived from it
#   dynamodb:*Item... on the table and its indexes
#   s3:*Object        on the archive bucket
#   secretsmanager:GetSecretValue on the provider secrets (connectors only)

locals {
  services = keys(var.kafka_access)

  # arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid> -> .../topic/<name>/<uuid>/<topic>
  topic_arn_base = replace(var.msk_cluster_arn, ":cluster/", ":topic/")
  group_arn_base = replace(var.msk_cluster_arn, ":cluster/", ":group/")

  dynamodb_read  = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:DescribeTable"]
  dynamodb_write = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem"]
  s3_read        = ["s3:GetObject", "s3:GetObjectVersion"]
  s3_write       = ["s3:PutObject", "s3:AbortMultipartUpload"]

  # Services whose code reads provider credentials from Secrets Manager at run time.
  provider_secret_readers = toset(["connectors"])
}

# --- trust -----------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:aws:ecs:${var.aws_region}:${var.account_id}:*"]
    }
  }
}

# --- execution role --------------------------------------------------------------------------

# Assumed by the ECS agent itself (pull, logs, secrets): only the account condition applies.
data "aws_iam_policy_document" "ecs_execution_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "PullImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = ["arn:aws:ecr:${var.aws_region}:${var.account_id}:repository/*"]
  }

  statement {
    # GetAuthorizationToken has no resource-level permissions.
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "ContainerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for k in local.services : "${var.log_group_arns[k]}:*"]
  }

  statement {
    sid       = "InjectedSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(var.app_secret_arns)
  }

  statement {
    sid       = "DecryptInjectedSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_execution_assume.json
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# --- task roles ------------------------------------------------------------------------------

data "aws_iam_policy_document" "task" {
  for_each = var.kafka_access

  statement {
    sid       = "KafkaConnect"
    actions   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
    resources = [var.msk_cluster_arn]
  }

  dynamic "statement" {
    for_each = length(each.value.produce) > 0 ? [1] : []
    content {
      sid       = "KafkaIdempotentProducer"
      actions   = ["kafka-cluster:WriteDataIdempotently"]
      resources = [var.msk_cluster_arn]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.produce) > 0 ? [1] : []
    content {
      sid = "KafkaProduce"
      actions = [
        "kafka-cluster:CreateTopic",
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:DescribeTopicDynamicConfiguration",
        "kafka-cluster:WriteData",
      ]
      resources = [for t in each.value.produce : "${local.topic_arn_base}/${t}"]
    }
  }

  # Raw topics carry the broker's append time (pipeline/provision.py): a service that creates them also
  # switches a raw topic made by an earlier version (AlterConfigs on that topic only).
  dynamic "statement" {
    for_each = length([for t in each.value.produce : t if startswith(t, "raw.")]) > 0 ? [1] : []
    content {
      sid       = "KafkaRawTopicTimestamps"
      actions   = ["kafka-cluster:AlterTopicDynamicConfiguration"]
      resources = [for t in each.value.produce : "${local.topic_arn_base}/${t}" if startswith(t, "raw.")]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.consume) > 0 ? [1] : []
    content {
      sid = "KafkaConsume"
      actions = [
        "kafka-cluster:CreateTopic",
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:DescribeTopicDynamicConfiguration",
        "kafka-cluster:ReadData",
      ]
      resources = [for t in each.value.consume : "${local.topic_arn_base}/${t}"]
    }
  }

  dynamic "statement" {
    for_each = length(each.value.groups) > 0 ? [1] : []
    content {
      sid       = "KafkaConsumerGroups"
      actions   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
      resources = [for g in each.value.groups : "${local.group_arn_base}/${g}"]
    }
  }

  dynamic "statement" {
    for_each = var.data_access[each.key].dynamodb == "none" ? [] : [1]
    content {
      sid       = "DynamoDB"
      actions   = var.data_access[each.key].dynamodb == "write" ? concat(local.dynamodb_read, local.dynamodb_write) : local.dynamodb_read
      resources = [var.table_arn, "${var.table_arn}/index/*"]
    }
  }

  dynamic "statement" {
    for_each = var.data_access[each.key].s3 == "none" ? [] : [1]
    content {
      sid       = "S3ArchiveObjects"
      actions   = var.data_access[each.key].s3 == "write" ? concat(local.s3_read, local.s3_write) : local.s3_read
      resources = ["${var.bucket_arn}/*"]
    }
  }

  dynamic "statement" {
    for_each = var.data_access[each.key].s3 == "none" ? [] : [1]
    content {
      sid       = "S3ArchiveList"
      actions   = ["s3:ListBucket"]
      resources = [var.bucket_arn]
    }
  }

  dynamic "statement" {
    for_each = var.data_access[each.key].dynamodb == "none" && var.data_access[each.key].s3 == "none" ? [] : [1]
    content {
      sid       = "DataKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.data_kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${var.aws_region}.amazonaws.com", "s3.${var.aws_region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = contains(local.provider_secret_readers, each.key) ? [1] : []
    content {
      sid       = "ProviderSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = values(var.provider_secret_arns)
    }
  }

  dynamic "statement" {
    for_each = contains(local.provider_secret_readers, each.key) ? [1] : []
    content {
      sid       = "DecryptProviderSecrets"
      actions   = ["kms:Decrypt"]
      resources = [var.secrets_kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${var.aws_region}.amazonaws.com"]
      }
    }
  }

  # ECS Exec (only used when enable_execute_command is on); these actions have no resource ARNs.
  statement {
    sid = "EcsExecChannel"
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "EcsExecSessionLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${var.log_group_arns["ecs_exec"]}:*"]
  }

  statement {
    sid       = "EcsExecDescribeLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"]
  }

  statement {
    sid       = "EcsExecEncryptSession"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.logs_kms_key_arn]
  }
}

resource "aws_iam_role" "task" {
  for_each = var.kafka_access

  name               = "${var.name}-${each.key}-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "task" {
  for_each = var.kafka_access

  name   = "${each.key}-least-privilege"
  role   = aws_iam_role.task[each.key].id
  policy = data.aws_iam_policy_document.task[each.key].json
}
