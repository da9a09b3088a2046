terraform {
  # 1.11: write-only arguments; 1.9: validations that refer to other variables.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7, < 4.0"
    }
  }

  # Partial configuration: pass bucket/key/region/kms_key_id with
  # `terraform init -backend-config=backends/<environment>.hcl` (see README.md).
  backend "s3" {}
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(var.tags, {
      Project     = "sportsflow"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
