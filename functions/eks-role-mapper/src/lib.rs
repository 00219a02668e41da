//! Grants an IAM role cluster-admin access to an EKS cluster as a CloudFormation custom resource.
