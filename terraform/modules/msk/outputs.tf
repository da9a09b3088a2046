output "cluster_arn" {
  description = "MSK cluster ARN (topic/group ARNs are derived from it)."
  value       = aws_msk_cluster.this.arn
}

output "cluster_name" {
  description = "MSK cluster name."
  value       = aws_msk_cluster.this.cluster_name
}

output "bootstrap_brokers_sasl_iam" {
  description = "Bootstrap brokers for SASL/IAM over TLS (port 9098)."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_iam
}

output "replication_factor" {
  description = "Replication factor the app should use for the topics it creates."
  value       = local.replication_factor
}

output "kafka_version" {
  description = "Kafka version of the cluster."
  value       = aws_msk_cluster.this.kafka_version
}
